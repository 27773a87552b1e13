"""Keys of every item kind of the job queue and the values of the index keys they carry."""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from shared.jobs.states import JobStatus
from shared.plumbing import dynamo_codec

S = JobStatus


# --- keys ----------------------------------------------------------------------------------


# A job id as new_job_id writes it: lowercase hex in the 8-4-4-4-12 layout.
_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The id's byte 9 (hex digits 18-19, right after the RFC 4122 variant byte; characters 21-22 of the
# dashed form) holds its job shard; shard_of (the ready shard) reads the last 6 hex digits instead.
_SHARD_CHARS = slice(21, 23)
MAX_JOB_SHARDS = 256  # one byte of the id
NO_JOB_PARTITION = "-"  # where an id that new_job_id cannot have written is looked up: nothing is there


def job_shard(job_id: str) -> int | None:
    """The job shard written into the id at create; None for an id new_job_id cannot have made."""
    return int(job_id[_SHARD_CHARS], 16) if _JOB_ID.fullmatch(job_id) else None


JOB_PARTITION_PREFIX = "JOB#"


def job_partition(org_id: str, shard: int | str) -> str:
    return f"{JOB_PARTITION_PREFIX}{org_id}#{shard}"


def is_job_image(image: dict[str, Any] | None) -> bool:
    """Whether a stream image (DynamoDB JSON) is a job item's; payload items (JOBP#…) are not."""
    return bool(image) and image.get("pk", {}).get("S", "").startswith(JOB_PARTITION_PREFIX)  # type: ignore[union-attr]


# id(stream image) → (the image, kept alive so that its id is not reused; its decoded form). The
# side effects of one stream batch (timers, worker leases, workflows, Lambda pumps) each read the
# same records' images: each image is decoded once. A batch has at most 1,000 records (two images
# each); an image that fell out is decoded again.
_DECODED: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}
_DECODED_KEPT = 2048
_decoded_lock = threading.Lock()  # make dev's sweep runs the dispatcher beside its stream loop


def decoded_job_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A job item's stream image as plain values; None for any other item (or none). The same dict
    for the same image: callers only read it."""
    if image is None:
        return None
    with _decoded_lock:
        known = _DECODED.get(id(image))
    if known is not None and known[0] is image:
        return known[1]
    decoded = dynamo_codec.decode_item(image) if is_job_image(image) else None
    with _decoded_lock:
        if len(_DECODED) >= _DECODED_KEPT:
            del _DECODED[next(iter(_DECODED))]  # the oldest
        _DECODED[id(image)] = (image, decoded)
    return decoded


def job_key(org_id: str, job_id: str) -> dict[str, Any]:
    # One of the organization's job partitions, sorted by id, i.e. by creation time: the table is
    # its own job listing (docs/architecture.md, "The job's key"). The shard comes from the id, so
    # a job is found with no lookup and stays found when the shard count is raised. An id that
    # does not parse points into a partition that holds nothing (404, as for any unknown id).
    shard = job_shard(job_id)
    partition = job_partition(org_id, NO_JOB_PARTITION if shard is None else shard)
    return {"pk": {"S": partition}, "sk": {"S": job_id or NO_JOB_PARTITION}}


def is_job_id(job_id: str) -> bool:
    return job_shard(job_id) is not None


def job_id_from_key(item: dict[str, Any]) -> str:
    """The job id of a job item's (or an index entry's) keys, in DynamoDB's JSON form."""
    return str(item["sk"]["S"])


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


def new_job_id(now_ms: int, shards: int, entropy: bytes | None = None) -> str:
    """A UUID (version 7 layout) whose first 48 bits are the creation time in milliseconds, then
    a job shard in [0, shards) in byte 9, the rest random: ids sort by creation time, so a job
    partition sorted by id lists newest first, and job_key finds the partition from the id alone.

    `entropy` (12 bytes; os.urandom by default) supplies the 74 random bits and the shard: its
    last two bytes choose the shard (bias below 0.4% for any shard count up to 256)."""
    if not 1 <= shards <= MAX_JOB_SHARDS:
        raise ValueError(f"job shards must be 1-{MAX_JOB_SHARDS}, not {shards}")
    entropy = os.urandom(12) if entropy is None else entropy
    shard = int.from_bytes(entropy[10:12], "big") % shards
    value = (now_ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(entropy[:10], "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    value = (value & ~(0xFF << 48)) | (shard << 48)  # byte 9: the job shard (job_shard)
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


def workers_by_org_pk(org_id: str) -> str:
    return f"WORKERS#{org_id}"


def shard_of(job_id: str, shards: int) -> int:
    # Stable per job, so a job re-enters the same ready partition after a retry.
    return int(job_id.replace("-", "")[-6:], 16) % shards
