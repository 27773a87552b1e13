"""A job as the store keeps it, and the contract's documents made from it (contract §2.4)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.plumbing.clock import to_rfc3339
from shared.plumbing.payload_store import json_within_limit


@dataclass
class JobRecord:
    id: str
    org_id: str
    queue_name: str
    status: str
    priority: int
    payload: Any  # the decoded JSON value (loaded from S3 when it was too large for the item)
    retry_count: int
    max_retries: int
    timeout_seconds: int
    created_at: int  # epoch milliseconds, like every time in the store
    updated_at: int
    version: int = 0
    result: Any = None
    last_error: str | None = None
    scheduled_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    tags: Any = None
    parent_job_id: str | None = None
    completion_webhook: str | None = None
    idempotency_key: str | None = None
    assigned_worker_id: str | None = None
    lease_id: str | None = None
    lease_expires_at: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    has_ready_key: bool = False
    timer_sk: str | None = None
    stored_job_type: str | None = None  # payload.job_type, copied at create: list reads skip the payload
    # Dependencies and workflows (docs/workflows.md); dependencies_met is None for a job without parents.
    workflow_id: str | None = None
    workflow_key: str | None = None
    depends_on: list[str] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)
    dependency_mode: str | None = None
    dependencies_met: bool | None = None

    @property
    def job_type(self) -> str:
        if isinstance(self.payload, dict) and isinstance(self.payload.get("job_type"), str):
            return self.payload["job_type"]
        return self.stored_job_type if isinstance(self.stored_job_type, str) else ""


def record_from_item(item: dict[str, Any], payload: Any, result: Any) -> JobRecord:
    """`item` is a decoded DynamoDB item; payload/result are already resolved (inline or S3)."""
    return JobRecord(
        id=item["id"],
        org_id=item["org_id"],
        queue_name=item["queue_name"],
        status=item["status"],
        priority=item["priority"],
        payload=payload,
        retry_count=item.get("retry_count", 0),
        max_retries=item["max_retries"],
        timeout_seconds=item["timeout_seconds"],
        created_at=item["created_at"],
        updated_at=item.get("updated_at", item["created_at"]),
        version=item.get("version", 0),
        result=result,
        last_error=item.get("last_error"),
        scheduled_at=item.get("scheduled_at"),
        started_at=item.get("started_at"),
        completed_at=item.get("completed_at"),
        expires_at=item.get("expires_at"),
        tags=json.loads(item["tags"]) if "tags" in item else None,
        parent_job_id=item.get("parent_job_id"),
        completion_webhook=item.get("completion_webhook"),
        idempotency_key=item.get("idempotency_key"),
        assigned_worker_id=item.get("assigned_worker_id"),
        lease_id=item.get("lease_id"),
        lease_expires_at=item.get("lease_expires_at"),
        events=item.get("events", []),
        has_ready_key="ready_pk" in item,
        timer_sk=item.get("timer_sk"),
        stored_job_type=item.get("job_type"),
        workflow_id=item.get("workflow_id"),
        workflow_key=item.get("workflow_key"),
        depends_on=item.get("depends_on", []),
        dependents=item.get("dependents", []),
        dependency_mode=item.get("dependency_mode"),
        dependencies_met=item.get("dependencies_met"),
    )


def job_document(job: JobRecord) -> dict[str, Any]:
    """The full Job (GET /jobs/{id}, POST /jobs/{id}/retry)."""
    return {
        "id": job.id,
        "organization_id": job.org_id,
        "queue_name": job.queue_name,
        "status": job.status,
        "payload": job.payload,
        "result": job.result,
        "retry_count": job.retry_count,
        "max_retries": job.max_retries,
        "last_error": job.last_error,
        "created_at": to_rfc3339(job.created_at),
        "scheduled_at": to_rfc3339(job.scheduled_at),
        "started_at": to_rfc3339(job.started_at),
        "completed_at": to_rfc3339(job.completed_at),
        "expires_at": to_rfc3339(job.expires_at),
        "priority": job.priority,
        "tags": job.tags,
        "timeout_seconds": job.timeout_seconds,
        "parent_job_id": job.parent_job_id,
        "completion_webhook": job.completion_webhook,
        "assigned_worker_id": job.assigned_worker_id,
        "lease_id": job.lease_id,
        "lease_expires_at": to_rfc3339(job.lease_expires_at),
        "idempotency_key": job.idempotency_key,
        "updated_at": to_rfc3339(job.updated_at),
        "workflow_id": job.workflow_id,
        "dependency_mode": job.dependency_mode,
        "dependencies_met": job.dependencies_met,
    }


def job_summary(job: JobRecord) -> dict[str, Any]:
    """A list row (GET /jobs, GET /jobs/dlq). Both retry_count and its alias attempt are sent."""
    return {
        "id": job.id,
        "queue_name": job.queue_name,
        "status": job.status,
        "priority": job.priority,
        "retry_count": job.retry_count,
        "attempt": job.retry_count,
        "max_retries": job.max_retries,
        "job_type": job.job_type,
        "last_error": job.last_error,
        "created_at": to_rfc3339(job.created_at),
        "scheduled_at": to_rfc3339(job.scheduled_at),
        "started_at": to_rfc3339(job.started_at),
        "completed_at": to_rfc3339(job.completed_at),
    }


def claimed_job(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "queue_name": job.queue_name,
        "payload": job.payload,
        "retry_count": job.retry_count,
        "max_retries": job.max_retries,
        "timeout_seconds": job.timeout_seconds,
        "lease_expires_at": to_rfc3339(job.lease_expires_at),
        "lease_id": job.lease_id,
    }


def history_events(job: JobRecord) -> list[dict[str, Any]]:
    """Every history entry of the job, oldest first. The item stores only what its fields cannot
    tell: "created" is created_at, and the current attempt's "processing" and "completed" are
    started_at and completed_at with assigned_worker_id (no history write on the happy path)."""
    events: list[dict[str, Any]] = [{"t": job.created_at, "e": "created"}, *job.events]
    worker = {"w": job.assigned_worker_id} if job.assigned_worker_id else {}
    if job.status in ("processing", "completed") and job.started_at is not None:
        lease = {"d": {"lease_id": job.lease_id}} if job.lease_id else {}
        events.append({"t": job.started_at, "e": "processing", **worker, **lease})
    if job.status == "completed" and job.completed_at is not None:
        events.append({"t": job.completed_at, "e": "completed", **worker})
    return events


def history_documents(job: JobRecord) -> list[dict[str, Any]]:
    """The job's history events (contract §3.14), oldest first; ids are stable per position."""
    rows = []
    for position, event in enumerate(history_events(job)):
        details = {"organization_id": job.org_id, **event.get("d", {})}
        rows.append(
            {
                "id": f"{job.id}-{position}",
                "job_id": job.id,
                "event_type": event["e"],
                "worker_id": event.get("w"),
                "details": details,
                "created_at": to_rfc3339(event["t"]),
            }
        )
    return rows


def payload_text(value: Any, what: str = "payload") -> str:
    return json_within_limit(value, what)
