"""Deleting many jobs at once: every job of a queue (DELETE /queues/{name}?delete_jobs=true) or of
an organization (organization deletion). Each job goes with its idempotency-key item, its payload
item and its S3 payload/result objects. The stream's REMOVE records bring the queue counters down
by themselves.

A job being claimed while its queue is deleted is deleted anyway: that is what the caller asked
for, and the worker's later complete/fail answers 404.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.jobs import expressions as ex
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.config import settings
from shared.plumbing.payload_store import PayloadStore

PAGE = 100
PROJECTION = "pk, sk, id, org_id, idempotency_key, payload_ref, result_ref, pl"


class PurgeIncomplete(Exception):
    """The time budget ran out with jobs left; `deleted` says how many went."""

    def __init__(self, deleted: int) -> None:
        super().__init__(f"{deleted} jobs deleted before the time budget ran out")
        self.deleted = deleted


def delete_keys(table: str, keys: list[dict[str, Any]]) -> None:
    """Delete the items of `keys` (unconditionally, 25 per batch)."""
    db = aws_clients.client("dynamodb")
    for start in range(0, len(keys), 25):
        pending: dict[str, Any] = {table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]}
        while pending:
            pending = db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def purge(
    table: str,
    org_id: str,
    queue: str | None = None,
    *,
    budget_seconds: float = 20.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Delete every job of the organization (of one queue, with `queue`); returns how many.

    Raises PurgeIncomplete when `budget_seconds` pass first (API Gateway answers after 29 s):
    the caller repeats the request to finish.
    """
    db = aws_clients.client("dynamodb")
    payloads = PayloadStore()
    deadline = monotonic() + budget_seconds
    deleted = 0
    for shard in range(settings().job_shards):
        start_key = None
        while True:
            page = db.query(
                **ex.query_job_partition(
                    table,
                    org_id,
                    shard,
                    PAGE,
                    queue=queue,
                    start_key=start_key,
                    oldest_first=True,
                    projection=PROJECTION,
                )
            )
            # The base table's own partition, read consistently: every item is a job that exists.
            jobs = [dynamo_codec.decode_item(raw) for raw in page.get("Items", [])]
            doomed = [{"pk": {"S": job["pk"]}, "sk": {"S": job["sk"]}} for job in jobs]
            doomed += [
                ex.idempotency_key(org_id, j["idempotency_key"]) for j in jobs if j.get("idempotency_key")
            ]
            doomed += [ex.payload_key(org_id, j["id"], str(j["pl"])) for j in jobs if j.get("pl")]
            delete_keys(table, doomed)
            for job in jobs:
                payloads.delete(job.get("payload_ref"), job.get("result_ref"))
            deleted += len(jobs)
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                break
            if monotonic() > deadline:
                raise PurgeIncomplete(deleted)
    return deleted
