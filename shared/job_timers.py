"""The timer sweep: promote due jobs and recover expired leases in every queue.

Claims already do this for their own queue (so a polling worker never waits for a sweep); the
sweep is for queues nobody is polling right now, so that statuses and the DLQ move on time anyway.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared import dynamo_expressions as ex
from shared import schema
from shared.job_store import JobStore


def known_queues(store: JobStore) -> Iterator[tuple[str, str]]:
    """(org_id, queue) of every queue that has ever held a job."""
    for _, raw in store.iter_index_ids(schema.BY_ORG_INDEX, ex.ALL_QUEUES_PARTITION, oldest_first=True):
        org_id, queue = raw[schema.BY_ORG_INDEX.sort_key.name]["S"].split("#", 1)
        yield org_id, queue


def sweep(store: JobStore, per_queue_limit: int = 100) -> int:
    moved = 0
    for org_id, queue in known_queues(store):
        while True:
            n = store.promote_due(org_id, queue, limit=per_queue_limit)
            moved += n
            if n < per_queue_limit:
                break
    return moved
