"""The `settings` object of a queue's configuration, as the timers and the dispatcher read it.

Two entries of it drive behaviour here (docs/timers.md):
  "retry_backoff": {"base_seconds", "factor", "cap_seconds", "jitter_ms"}  the queue's backoff
  "lambda_worker": {"function_name", "max_concurrency"}                     push jobs to a Lambda

They are read on retries and by the dispatcher, never on the create/claim hot path, and cached per
process for a few seconds: a change made with PUT /queues/{name}/config applies within that time.
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

CACHE_SECONDS = 10.0


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
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any], bool]] = {}
        self._lock = threading.Lock()

    def _read(self, org_id: str, queue: str) -> tuple[dict[str, Any], bool]:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get((org_id, queue))
        if cached and now - cached[0] < self.cache_seconds:
            return cached[1], cached[2]
        found = aws_clients.client("dynamodb").get_item(
            TableName=self.table, Key=ex.queue_config_key(org_id, queue), ConsistentRead=True
        )
        item = dynamo_codec.decode_item(found["Item"]) if "Item" in found else None
        value, enabled = settings_of(item), (item or {}).get("enabled") is not False
        with self._lock:
            self._cache[(org_id, queue)] = (now, value, enabled)
        return value, enabled

    def get(self, org_id: str, queue: str) -> dict[str, Any]:
        return self._read(org_id, queue)[0]

    def enabled(self, org_id: str, queue: str) -> bool:
        """False while the queue is paused (contract §3.7)."""
        return self._read(org_id, queue)[1]

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
