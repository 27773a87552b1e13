"""Keys of every item kind of the job queue and the values of the index keys they carry."""

from __future__ import annotations

import os
import zlib
from typing import Any

from shared.jobs.states import JobStatus

S = JobStatus


# --- keys ----------------------------------------------------------------------------------


def job_key(org_id: str, job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{org_id}#{job_id}"}, "sk": {"S": "JOB"}}


def job_id_from_pk(pk: str) -> str:
    return pk.rsplit("#", 1)[1]


def idempotency_key(org_id: str, key: str) -> dict[str, Any]:
    return {"pk": {"S": f"IDEM#{org_id}#{key}"}, "sk": {"S": "IDEM"}}


# One partition per queue for what the stream writes about it (issue 11, point 4): its counter
# item and its activity buckets. Under ORG#{org} they made one partition take every queue's stream
# writes, which capped an organization near 9,300 jobs/s (make bench, part 6); per queue, a
# partition takes one queue's share. Readers find the queues in the registry (ORG#{org} / QREG#,
# written once per queue) and read these by key: shared/jobs/queues/counters.py and activity.py.
QUEUE_PARTITION_PREFIX = "QSTAT#"
QUEUE_COUNTER_SK = "QSTAT"


def queue_partition_pk(org_id: str, queue: str) -> str:
    return f"{QUEUE_PARTITION_PREFIX}{org_id}#{queue}"


def queue_counter_key(org_id: str, queue: str) -> dict[str, Any]:
    return {"pk": {"S": queue_partition_pk(org_id, queue)}, "sk": {"S": QUEUE_COUNTER_SK}}


def queue_config_key(org_id: str, queue: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"QUEUE#{queue}"}}


def worker_key(org_id: str, worker_id: str) -> dict[str, Any]:
    # Worker ids are chosen by the client: keyed by organization, so no tenant can take (or block)
    # an id another tenant uses (issue 12, finding 3).
    return {"pk": {"S": f"WORKER#{org_id}#{worker_id}"}, "sk": {"S": "WORKER"}}


def payload_key(org_id: str, job_id: str, attempt: str) -> dict[str, Any]:
    # A payload too large to ride in the job item, written once at create (shared/jobs/store_base.py).
    # `attempt` is the create's own nonce (the job item's `pl`), so a payload item is never
    # overwritten, whichever create attempt wrote it.
    return {"pk": {"S": f"JOBP#{org_id}#{job_id}#{attempt}"}, "sk": {"S": "P"}}


def new_job_id(now_ms: int) -> str:
    """A UUID (version 7 layout) whose first 48 bits are the creation time in milliseconds, the
    rest random: ids sort by creation time (the listing indexes sort on created_at, which the item
    carries anyway; a time-ordered id keeps the ids a user sees in the same order)."""
    value = (now_ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# --- index key values ----------------------------------------------------------------------


def ready_pk(org_id: str, queue: str, shard: int) -> str:
    return f"{org_id}#{queue}#{shard}"


def ready_sk(priority: int, created_ms: int, job_id: str) -> str:
    # Lexicographic order = priority descending (100 - p runs 0..200), then oldest first (FIFO).
    return f"{100 - priority:03d}#{created_ms:013d}#{job_id}"


def timer_pk(org_id: str, queue: str) -> str:
    return f"{org_id}#{queue}"


ALL_QUEUES_PARTITION = "QUEUES"  # by_org partition listing every queue of the deployment


def job_list_pk(org_id: str, shard: int) -> str:
    return f"{org_id}#{shard}"


def job_list_shard(job_id: str, shards: int) -> int:
    # From the id's random bits (crc32 of the whole id), so one organization's creates, which share
    # the id's time prefix, spread evenly over the shards.
    return zlib.crc32(job_id.encode("utf-8")) % shards


def workers_by_org_pk(org_id: str) -> str:
    return f"WORKERS#{org_id}"


def shard_of(job_id: str, shards: int) -> int:
    # Stable per job, so a job re-enters the same ready partition after a retry.
    return int(job_id.replace("-", "")[-6:], 16) % shards
