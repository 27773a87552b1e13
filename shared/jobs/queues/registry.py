"""The registry of queues: every (organization, queue) that ever had a job, written when the queue's
first job is created, not by the stream.

So a queue is in `GET /api/v1/queues` as soon as its first create returns, and the minute sweep
sees it even when the stream is down or a batch failed. The registry entry is a small item
(ORG#{org} / QREG#{queue}) with its by_org index key in the QUEUES partition. It is also how the
readers of the per-queue partitions (counters, activity: QSTAT#{org}#{queue}) find an
organization's queues: `queue_names_of` is one consistent query of the registry entries.

Cost: a per-container set remembers what this container registered, so only the first create of
each queue in each container writes: one conditional UpdateItem, 1 WRU (plus 1 WRU for the by_org
index entry the first time ever; a queue already registered fails the condition, which is billed as
the same 1 WRU and writes no stream record). The stream's filters leave the item out. A container
that lives for hours and serves a few queues pays a few WRU in all; creates after that pay nothing
and add no round trip.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from shared.jobs import expressions as ex
from shared.plumbing import aws_clients, schema
from shared.plumbing.aws_clients import is_conditional_failure
from shared.plumbing.request_models import QUEUE_NAME_PATTERN

QueueKey = tuple[str, str]

_registered: set[tuple[str, str, str]] = set()  # (table, org, queue) this container registered
_lock = threading.Lock()


def register(table: str, org_id: str, queue: str, now_ms: int) -> bool:
    """Register the queue unless this container already did; True when it wrote."""
    key = (table, org_id, queue)
    with _lock:
        if key in _registered:
            return False
    try:
        aws_clients.client("dynamodb").update_item(**ex.register_queue(table, org_id, queue, now_ms))
    except Exception as error:
        if not is_conditional_failure(error):
            raise  # the create fails with it: a queue must never hold a job unregistered
    with _lock:
        _registered.add(key)
    return True


def register_all(table: str, queues: Iterable[QueueKey], now_ms: int) -> int:
    """Register every distinct queue (a bulk create names one or a few); returns the writes made."""
    return sum(register(table, org_id, queue, now_ms) for org_id, queue in dict.fromkeys(queues))


def forget() -> None:
    """Drop the per-container cache (tests that start from an empty table)."""
    with _lock:
        _registered.clear()


_NAME = re.compile(QUEUE_NAME_PATTERN)


def possible(queues: Iterable[str]) -> list[str]:
    """The names a queue could have, once each: a name no create accepts holds no job, so its
    partition is not read (a filter from a query string may be anything, even longer than a key)."""
    return [name for name in dict.fromkeys(queues) if _NAME.fullmatch(name)]


def queue_names_of(table: str, org_id: str) -> list[str]:
    """Every queue the organization ever registered, by name (one consistent query; a registry
    item is ~150 bytes, so 1 read unit per ~25 queues)."""
    db = aws_clients.client("dynamodb")
    args = ex.query_registered_queues(table, org_id)
    found: list[str] = []
    while True:
        response = db.query(**args)
        found.extend(raw["queue_name"]["S"] for raw in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return found
        args["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def is_registered(table: str, org_id: str, queue: str) -> bool:
    found = aws_clients.client("dynamodb").get_item(
        TableName=table,
        Key=ex.queue_registry_key(org_id, queue),
        ConsistentRead=True,
        ProjectionExpression="pk",
    )
    return "Item" in found


def page(table: str, cursor: dict[str, Any] | None = None, limit: int = 100) -> tuple[list[QueueKey], Any]:
    """One page of registered queues, oldest first, and the cursor of the next (None at the end)."""
    response = aws_clients.client("dynamodb").query(
        **ex.query_queue_registry(table, schema.BY_ORG_INDEX.name, limit, cursor)
    )
    queues: list[QueueKey] = []
    for raw in response.get("Items", []):
        org_id, queue = raw[schema.BY_ORG_INDEX.sort_key.name]["S"].split("#", 1)
        queues.append((org_id, queue))
    return queues, response.get("LastEvaluatedKey")
