"""The `settings` object of a queue's configuration, as the timers and the dispatcher read it.

Two entries of it drive behaviour here (docs/timers.md):
  "retry_backoff": {"base_seconds", "factor", "cap_seconds", "jitter_ms"}  the queue's backoff
  "lambda_worker": {"function_name", "max_concurrency"}                     push jobs to a Lambda

The whole config item (pause, rate_limit, max_concurrency, ready_shards) is read through the same
cache by claims and creates: one GetItem per queue per container every CACHE_SECONDS, not one per
request. A change made with PUT /queues/{name}/config (or a pause) applies at once in the container
that made it (every instance of this process forgets) and within CACHE_SECONDS everywhere else.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from shared.jobs import expressions as ex
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.config import settings

CACHE_SECONDS = 5.0
# Bumped by forget_everywhere(): every instance drops its cache on its next read.
_generation = 0


def forget_everywhere() -> None:
    """A queue config was written in this process: no instance may serve the old one."""
    global _generation
    _generation += 1


def settings_of(item: dict[str, Any] | None) -> dict[str, Any]:
    """The settings object of a decoded queue-config item ({} when absent or unreadable)."""
    if not item:
        return {}
    value = item.get("settings")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


class QueueSettings:
    """Queue settings by (org, queue), cached for CACHE_SECONDS of monotonic time."""

    def __init__(
        self,
        table: str | None = None,
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table or settings().table_name
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any] | None, dict[str, Any]]] = {}
        self._generation = _generation
        self._lock = threading.Lock()

    def _read(self, org_id: str, queue: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        now = self._monotonic()
        with self._lock:
            if self._generation != _generation:
                self._cache.clear()
                self._generation = _generation
            cached = self._cache.get((org_id, queue))
        if cached and now - cached[0] < self.cache_seconds:
            return cached[1], cached[2]
        found = aws_clients.client("dynamodb").get_item(
            TableName=self.table, Key=ex.queue_config_key(org_id, queue), ConsistentRead=True
        )
        item = dynamo_codec.decode_item(found["Item"]) if "Item" in found else None
        value = settings_of(item)
        with self._lock:
            self._cache[(org_id, queue)] = (now, item, value)
        return item, value

    def item(self, org_id: str, queue: str) -> dict[str, Any] | None:
        """The queue's config item (None: never configured), at most CACHE_SECONDS old."""
        return self._read(org_id, queue)[0]

    def get(self, org_id: str, queue: str) -> dict[str, Any]:
        return self._read(org_id, queue)[1]

    def enabled(self, org_id: str, queue: str) -> bool:
        """False while the queue is paused (contract §3.7)."""
        return (self._read(org_id, queue)[0] or {}).get("enabled") is not False

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
