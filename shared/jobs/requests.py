"""Request bodies as the contract defines them (§2.4, §2.6, §2.8), validated with pydantic.

Validation is strict (a string is not an integer) and the errors are translated into the contract's
two kinds: a body that is not the expected document (missing field, wrong type, not JSON) is 422;
a value that breaks a field rule (range, length, pattern) is 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from shared.plumbing.request_models import (
    HOSTNAME_PATTERN,
    WORKER_ID_PATTERN,
    MaxRetries,
    Priority,
    QueueName,
    RequestBody,
    TimeoutSeconds,
)

WorkerId = Annotated[str, Field(min_length=1, max_length=255)]
LeaseId = Annotated[str, Field(min_length=1, max_length=255)]
MIN_LEASE_SECS, MAX_LEASE_SECS = 5, 3600


def _clamp_lease(seconds: int) -> int:
    # Contract §3.3: out-of-range leases are clamped, not refused, so a worker configured with a
    # 2-hour lease still gets jobs (with an hour's lease) instead of failing every claim.
    return min(max(seconds, MIN_LEASE_SECS), MAX_LEASE_SECS)


LeaseSeconds = Annotated[int, AfterValidator(_clamp_lease)]


class RetryBackoff(RequestBody):
    """A job's own retry backoff (an extension of the contract; docs/timers.md). Omitted fields
    come from the queue's settings.retry_backoff, then from the default 1 s x2 capped at 60 s."""

    base_seconds: Annotated[float, Field(ge=0, le=3600)] | None = None
    factor: Annotated[float, Field(ge=1, le=10)] | None = None
    cap_seconds: Annotated[float, Field(ge=0, le=86400)] | None = None
    jitter_ms: Annotated[int, Field(ge=0, le=60000)] | None = None


class CreateJob(RequestBody):
    queue_name: QueueName
    payload: Any = Field(...)
    priority: Priority = 0
    max_retries: MaxRetries | None = None
    timeout_seconds: TimeoutSeconds | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    tags: Any = None
    parent_job_id: str | None = None
    completion_webhook: Annotated[str, Field(max_length=2048)] | None = None
    completion_webhook_secret: Annotated[str, Field(max_length=255)] | None = None
    retry_backoff: RetryBackoff | None = None


class BulkJob(RequestBody):
    payload: Any = Field(...)
    priority: Priority | None = None
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    scheduled_at: datetime | None = None


class BulkCreate(RequestBody):
    queue_name: QueueName
    jobs: Annotated[list[BulkJob], Field(min_length=1, max_length=100)]
    default_priority: Priority = 0
    default_max_retries: MaxRetries | None = None
    default_timeout_seconds: TimeoutSeconds | None = None


class Claim(RequestBody):
    queue_name: QueueName
    worker_id: WorkerId
    limit: Annotated[int, Field(ge=1, le=100)] = 1
    lease_duration_secs: LeaseSeconds = 30


class Complete(RequestBody):
    worker_id: WorkerId
    result: Any = None
    lease_id: LeaseId | None = None


class Fail(RequestBody):
    worker_id: WorkerId
    error: Annotated[str, Field(min_length=1, max_length=2048)]
    lease_id: LeaseId | None = None


class JobHeartbeat(RequestBody):
    worker_id: WorkerId
    lease_duration_secs: LeaseSeconds = 30
    lease_id: LeaseId | None = None


class SetPriority(RequestBody):
    priority: Priority


class DlqRetry(RequestBody):
    job_ids: Annotated[list[str], Field(max_length=100)] | None = None
    queue_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 100


class DlqPurge(RequestBody):
    confirm: bool
    queue_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    older_than: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=10000)] = 10000


class RegisterWorker(RequestBody):
    queue_name: QueueName
    hostname: Annotated[str, Field(min_length=1, max_length=255, pattern=HOSTNAME_PATTERN)]
    worker_id: Annotated[str, Field(pattern=WORKER_ID_PATTERN)] | None = None
    worker_type: Annotated[str, Field(max_length=50)] | None = None
    max_concurrency: Annotated[int, Field(ge=1, le=100)] = 5
    metadata: Any = None
    version: Annotated[str, Field(max_length=50)] | None = None


class WorkerHeartbeat(RequestBody):
    current_jobs: Annotated[int, Field(ge=0, le=1000)]
    status: Annotated[str, Field(pattern=r"^(healthy|degraded|offline|draining)$")] = "healthy"
    metadata: Any = None


class AddDependencies(RequestBody):
    depends_on: Annotated[list[str], Field(min_length=1, max_length=100)]
    dependency_mode: Literal["all", "any"] = "all"
