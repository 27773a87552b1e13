"""Keys of every item kind of the job queue and the values of the index keys they carry."""

from __future__ import annotations

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


def queue_counter_key(org_id: str, queue: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"QSTAT#{queue}"}}


def queue_config_key(org_id: str, queue: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"QUEUE#{queue}"}}


def worker_key(org_id: str, worker_id: str) -> dict[str, Any]:
    # Worker ids are chosen by the client: keyed by organization, so no tenant can take (or block)
    # an id another tenant uses (issue 12, finding 3).
    return {"pk": {"S": f"WORKER#{org_id}#{worker_id}"}, "sk": {"S": "WORKER"}}


# --- index key values ----------------------------------------------------------------------


def ready_pk(org_id: str, queue: str, shard: int) -> str:
    return f"{org_id}#{queue}#{shard}"


def ready_sk(priority: int, created_ms: int, job_id: str) -> str:
    # Lexicographic order = priority descending (100 - p runs 0..200), then oldest first (FIFO).
    return f"{100 - priority:03d}#{created_ms:013d}#{job_id}"


def timer_pk(org_id: str, queue: str) -> str:
    return f"{org_id}#{queue}"


ALL_QUEUES_PARTITION = "QUEUES"  # by_org partition listing every queue of the deployment


def jobs_by_org_pk(org_id: str) -> str:
    return f"JOBS#{org_id}"


def workers_by_org_pk(org_id: str) -> str:
    return f"WORKERS#{org_id}"


def jobs_by_queue_pk(org_id: str, queue: str) -> str:
    return f"{org_id}#{queue}"


def shard_of(job_id: str, shards: int) -> int:
    # Stable per job, so a job re-enters the same ready partition after a retry.
    return int(job_id.replace("-", "")[-6:], 16) % shards
