"""The dispatcher Lambda: the table's stream (queue counters) and the periodic timer sweep."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared import job_timers, queue_counters
from shared.job_store import JobStore


@lru_cache(maxsize=1)
def store() -> JobStore:
    return JobStore()


def handle_stream(records: list[dict[str, Any]]) -> None:
    deltas = queue_counters.deltas_from_records(records)
    if deltas:
        queue_counters.apply_deltas(store().table, deltas, store().clock.now_ms())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if event.get("sweep"):
        return {"moved": job_timers.sweep(store())}
    records = event.get("Records") or []
    stream_records = [r for r in records if r.get("eventSource") == "aws:dynamodb"]
    if stream_records:
        handle_stream(stream_records)
    return {"batchItemFailures": []}
