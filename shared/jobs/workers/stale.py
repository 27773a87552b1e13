"""The stale-worker sweep (contract §3.10): no heartbeat for 2 minutes → offline, jobs released.

Every worker that is not offline sits in one deployment-wide partition of the timers index
(LIVE_WORKERS, written at register and kept by heartbeats at no index cost, since the values do
not change). The sweep reads that partition, then the workers' last heartbeats; a stale one is
marked offline (conditional on the heartbeat it saw, so a heartbeat that lands meanwhile wins)
and the jobs it holds in its queue go back to pending after a backoff (retry_count + 1,
"Worker went offline") or to the DLQ. Its leases would expire anyway; this frees jobs whose
lease is longer than the two minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.store import JobStore
from shared.jobs.workers.directory import LIVE_STATUSES, STALE_AFTER_MS
from shared.plumbing import aws_clients, dynamo_codec, table_keys
from shared.plumbing.aws_clients import is_conditional_failure

logger = logging.getLogger("spooled.stale_workers")

_PROJECTION = "pk, sk, id, org_id, queue_name, #status, last_heartbeat"


@dataclass(frozen=True)
class SweepResult:
    marked_offline: int = 0
    jobs_released: int = 0
    forgotten: int = 0


def is_stale(item: dict[str, Any], now_ms: int) -> bool:
    return (
        item.get("status") in LIVE_STATUSES
        and int(item.get("last_heartbeat") or 0) <= now_ms - STALE_AFTER_MS
    )


def _live_worker_keys(table: str) -> Iterator[dict[str, Any]]:
    db = aws_clients.client("dynamodb")
    start_key = None
    while True:
        response = db.query(
            **table_keys.query_timer_partition(table, ex.LIVE_WORKERS_PARTITION, start_key=start_key)
        )
        for raw in response.get("Items", []):
            yield {"pk": raw["pk"], "sk": raw["sk"]}
        start_key = response.get("LastEvaluatedKey")
        if not start_key:
            return


def _workers(table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    db = aws_clients.client("dynamodb")
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {
            table: {
                "Keys": keys[start : start + 100],
                "ProjectionExpression": _PROJECTION,
                "ExpressionAttributeNames": {"#status": "status"},
            }
        }
        while request:
            response = db.batch_get_item(RequestItems=request)
            rows = response.get("Responses", {}).get(table, [])
            found.extend(dynamo_codec.decode_item(raw) for raw in rows)
            request = response.get("UnprocessedKeys") or {}
    return found


def _conditional(args: dict[str, Any]) -> bool:
    try:
        aws_clients.client("dynamodb").update_item(**args)
        return True
    except Exception as error:
        if not is_conditional_failure(error):
            raise
        return False


def sweep(store: JobStore) -> SweepResult:
    """One pass over the live workers. Safe to run twice at once and to repeat after a crash:
    every write is conditional, and jobs are released before the worker leaves the registry, so
    a pass cut short is finished by the next one."""
    now_ms = store.clock.now_ms()
    offline = released = forgotten = 0
    failed: list[str] = []
    for worker in _workers(store.table, list(_live_worker_keys(store.table))):
        worker_id = worker["id"]
        try:
            if worker.get("status") == "offline":
                # Deregistered or reported offline itself: only the registry entry is left to drop.
                forgotten += _conditional(ex.forget_offline_worker(store.table, worker["org_id"], worker_id))
                continue
            if not is_stale(worker, now_ms):
                continue
            released += store.release_from_offline_worker(worker["org_id"], worker["queue_name"], worker_id)
            seen = int(worker["last_heartbeat"])
            offline += _conditional(
                ex.mark_worker_offline(
                    store.table, worker["org_id"], worker_id, seen_heartbeat_ms=seen, now_ms=now_ms
                )
            )
        except Exception:
            # One worker's failure must not keep every later stale worker's jobs locked.
            logger.exception("releasing stale worker %s failed", worker_id)
            failed.append(worker_id)
    if failed:
        raise RuntimeError(f"stale workers not released: {', '.join(failed)} (the next sweep retries)")
    return SweepResult(marked_offline=offline, jobs_released=released, forgotten=forgotten)
