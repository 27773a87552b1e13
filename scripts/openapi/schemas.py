"""Response bodies for the OpenAPI document, as pydantic models (build time only).

The API builds its responses as plain dicts (no response model on the cold path), so the shapes
are written here from the contract (../shared/spooled-api/CONTRACT.md §2) and checked against
real responses by tests/functional/test_openapi.py. A route names its schema with
`Route(returns="Job")`, or `"JobSummary[]"` for a bare JSON array; a response without a model
here is documented as a JSON object.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["pending", "scheduled", "processing", "completed", "failed", "deadletter", "cancelled"]
WorkerStatus = Literal["healthy", "degraded", "offline", "draining"]


class _Doc(BaseModel):
    # Responses may grow keys; clients ignore the ones they do not know (contract §1.2).
    model_config = ConfigDict(extra="allow")


class Error(_Doc):
    """Every 4xx/5xx body (contract §1.4)."""

    code: str = Field(examples=["NOT_FOUND"])
    message: str
    details: Any = None


class Health(_Doc):
    status: Literal["healthy", "degraded"]
    database: bool | None = None
    cache: bool | None = None
    uptime_seconds: int | None = None


class Success(_Doc):
    success: bool
    error: str | None = None


class JobCreated(_Doc):
    id: str
    created: bool


class Job(_Doc):
    id: str
    organization_id: str
    queue_name: str
    status: JobStatus
    payload: Any
    result: Any = None
    retry_count: int
    max_retries: int
    last_error: str | None = None
    created_at: str
    scheduled_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    expires_at: str | None = None
    priority: int
    tags: dict[str, Any] | list[Any] | None = None
    timeout_seconds: int
    parent_job_id: str | None = None
    completion_webhook: str | None = None
    assigned_worker_id: str | None = None
    lease_id: str | None = None
    lease_expires_at: str | None = None
    idempotency_key: str | None = None
    updated_at: str | None = None
    workflow_id: str | None = None
    dependency_mode: str | None = None
    dependencies_met: bool | None = None


class JobSummary(_Doc):
    id: str
    queue_name: str
    status: JobStatus
    priority: int
    retry_count: int
    attempt: int
    max_retries: int | None = None
    job_type: str = ""
    last_error: str | None = None
    created_at: str
    scheduled_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class ClaimedJob(_Doc):
    id: str
    queue_name: str
    payload: Any
    retry_count: int
    max_retries: int
    timeout_seconds: int
    lease_expires_at: str | None = None
    lease_id: str | None = None


class ClaimResult(_Doc):
    jobs: list[ClaimedJob]


class BulkSucceeded(_Doc):
    index: int
    job_id: str
    created: bool


class BulkFailed(_Doc):
    index: int
    error: str


class BulkResult(_Doc):
    succeeded: list[BulkSucceeded]
    failed: list[BulkFailed]
    total: int
    success_count: int
    failure_count: int


class JobStats(_Doc):
    pending: int
    scheduled: int
    processing: int
    completed: int
    failed: int
    deadletter: int
    cancelled: int
    total: int


class BatchJobStatus(_Doc):
    id: str
    status: JobStatus
    queue_name: str
    retry_count: int
    created_at: str
    completed_at: str | None = None


class PriorityChanged(_Doc):
    job_id: str
    old_priority: int
    new_priority: int


class JobHistoryEvent(_Doc):
    id: str
    job_id: str
    event_type: str
    worker_id: str | None = None
    details: Any = None
    created_at: str


class DlqRetried(_Doc):
    retried_count: int
    retried_jobs: list[str] = []
    skipped_jobs: list[str] = []


class DlqPurged(_Doc):
    purged_count: int


class QueueSummary(_Doc):
    queue_name: str
    max_retries: int
    default_timeout: int
    rate_limit: int | None = None
    enabled: bool


class QueueConfig(QueueSummary):
    id: str
    organization_id: str
    settings: dict[str, Any] | None = None
    created_at: str
    updated_at: str


class QueueStats(_Doc):
    queue_name: str
    pending_jobs: int
    processing_jobs: int
    completed_jobs_24h: int
    failed_jobs_24h: int
    avg_processing_time_ms: float | None = None
    max_job_age_seconds: int | None = None
    active_workers: int


class QueuePaused(_Doc):
    queue_name: str
    paused: bool
    paused_at: str
    reason: str | None = None


class QueueResumed(_Doc):
    queue_name: str
    resumed: bool
    paused_duration_secs: int


class WorkerRegistered(_Doc):
    id: str
    queue_name: str
    lease_duration_secs: int
    heartbeat_interval_secs: int


class WorkerSummary(_Doc):
    id: str
    queue_name: str
    hostname: str
    status: WorkerStatus
    current_jobs: int
    max_concurrency: int
    last_heartbeat: str
    jobs_processed: int | None = None
    jobs_failed: int | None = None


class Worker(WorkerSummary):
    organization_id: str | None = None
    queue_names: list[str] | None = None
    worker_type: str | None = None
    metadata: dict[str, Any] | None = None
    version: str | None = None
    registered_at: str | None = None
    updated_at: str | None = None


class DashboardSystem(_Doc):
    version: str
    uptime_seconds: int
    started_at: str
    database_status: str
    cache_status: str
    environment: str


class DashboardJobs(_Doc):
    total: int
    pending: int
    processing: int
    completed_24h: int
    failed_24h: int
    deadletter: int
    avg_wait_time_ms: float | None = None
    avg_processing_time_ms: float | None = None


class DashboardQueue(_Doc):
    name: str
    pending: int
    processing: int
    paused: bool


class DashboardWorkers(_Doc):
    total: int
    healthy: int
    unhealthy: int


class RecentActivity(_Doc):
    jobs_created_1h: int
    jobs_completed_1h: int
    jobs_failed_1h: int


class Dashboard(_Doc):
    system: DashboardSystem
    jobs: DashboardJobs
    queues: list[DashboardQueue]
    workers: DashboardWorkers
    recent_activity: RecentActivity


class ActivityPoint(_Doc):
    """One minute of one organization's (or queue's) jobs."""

    t: int = Field(description="the minute's start, epoch seconds (UTC)")
    created: int
    completed: int
    failed: int = Field(description="attempts that failed, whether retried or dead-lettered")
    deadlettered: int
    pending: int = Field(description="jobs waiting to be claimed at the end of the minute")
    processing: int = Field(description="jobs claimed and running at the end of the minute")


class DashboardActivity(_Doc):
    """Per-minute activity and queue depth over the last hour (this API's addition, docs/dashboard.md)."""

    interval_seconds: int
    queue_name: str | None = None
    points: list[ActivityPoint]


def all_models() -> dict[str, type[BaseModel]]:
    """Every documented response model by the name routes use in `returns=`."""
    return {
        name: value
        for name, value in globals().items()
        if isinstance(value, type) and issubclass(value, _Doc) and value is not _Doc
    }
