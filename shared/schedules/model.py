"""A schedule and its runs as the store keeps them, and the contract's documents made from them
(§2.7 Schedule, ScheduleRun).

Times are epoch milliseconds in the store. payload_template, tags and metadata are JSON text, so
they come back exactly as they were sent (the item codec has no floats).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.plumbing.clock import to_rfc3339
from shared.plumbing.payload_store import encode_json
from shared.schedules import expressions as sx

RUN_RETENTION_SECONDS = 30 * 86_400  # runs leave with TTL after this (history is a recent log)
MAX_ERROR_MESSAGE_BYTES = 4096
# Run ids of cron fires are derived from (schedule, fire time), so a redelivered fire names the
# same run (and the same job idempotency key) as the first delivery.
_RUN_NAMESPACE = uuid.UUID("5b7f3c0e-2a51-4c1b-9d0e-7c3f4a8e91d2")


def _json_text(value: Any) -> str | None:
    return None if value is None else encode_json(value)


def _json_value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def new_schedule_item(
    *,
    org_id: str,
    schedule_id: str,
    fields: dict[str, Any],
    payload_text: str,
    next_run_ms: int | None,
    now_ms: int,
) -> dict[str, Any]:
    return {
        **{k: v["S"] for k, v in sx.schedule_key(org_id, schedule_id).items()},
        "id": schedule_id,
        "org_id": org_id,
        "name": fields["name"],
        "description": fields.get("description"),
        "cron_expression": fields["cron_expression"],
        "timezone": fields["timezone"],
        "queue_name": fields["queue_name"],
        "payload_template": payload_text,
        "priority": fields["priority"],
        "max_retries": fields["max_retries"],
        "timeout_seconds": fields["timeout_seconds"],
        "tags": _json_text(fields.get("tags")),
        "metadata": _json_text(fields.get("metadata")),
        "is_active": True,
        "run_count": 0,
        "next_run_ms": next_run_ms,
        "created_at": now_ms,
        "updated_at": now_ms,
        "version": 1,
        **sx.index_keys(org_id, schedule_id, now_ms),
        **sx.due_entry(schedule_id, next_run_ms),
    }


def schedule_document(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "organization_id": item["org_id"],
        "name": item["name"],
        "description": item.get("description"),
        "cron_expression": item["cron_expression"],
        "timezone": item["timezone"],
        "queue_name": item["queue_name"],
        "payload_template": _json_value(item.get("payload_template")),
        "priority": item["priority"],
        "max_retries": item["max_retries"],
        "timeout_seconds": item["timeout_seconds"],
        "is_active": bool(item.get("is_active")),
        "last_run_at": to_rfc3339(item.get("last_run_at")),
        "next_run_at": to_rfc3339(item.get("next_run_ms")) if item.get("is_active") else None,
        "run_count": int(item.get("run_count", 0)),
        "tags": _json_value(item.get("tags")),
        "metadata": _json_value(item.get("metadata")),
        "created_at": to_rfc3339(item["created_at"]),
        "updated_at": to_rfc3339(item.get("updated_at", item["created_at"])),
    }


def cron_run_id(schedule_id: str, fire_ms: int) -> str:
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{schedule_id}:{fire_ms}"))


def fire_idempotency_key(schedule_id: str, fire_ms: int) -> str:
    return f"schedule:{schedule_id}:{fire_ms}"


def run_item(
    schedule: dict[str, Any],
    *,
    run_id: str,
    at_ms: int,
    source: str,
    job_id: str | None,
    error_message: str | None,
    now_ms: int,
) -> dict[str, Any]:
    """A finished run: `completed` with the job it made, or `failed` with why no job was made.
    It carries what a `schedule.triggered` event needs (org, schedule, job, queue, source), so the
    stream's consumers can derive the event from this item alone."""
    org_id, schedule_id = schedule["org_id"], schedule["id"]
    return {
        **{k: v["S"] for k, v in sx.run_key(org_id, schedule_id, at_ms, run_id).items()},
        "id": run_id,
        "org_id": org_id,
        "schedule_id": schedule_id,
        "schedule_name": schedule.get("name"),
        "queue_name": schedule["queue_name"],
        "source": source,  # "cron" | "manual"
        "fire_at": at_ms,
        "job_id": job_id,
        "status": "completed" if job_id else "failed",
        "error_message": _truncated(error_message),
        "started_at": now_ms,
        "completed_at": now_ms,
        "expires_ttl": now_ms // 1000 + RUN_RETENTION_SECONDS,
    }


def _truncated(message: str | None) -> str | None:
    if message is None:
        return None
    data = message.encode("utf-8")
    if len(data) <= MAX_ERROR_MESSAGE_BYTES:
        return message
    return data[:MAX_ERROR_MESSAGE_BYTES].decode("utf-8", errors="ignore")


def run_document(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "schedule_id": item["schedule_id"],
        "job_id": item.get("job_id"),
        "status": item["status"],
        "error_message": item.get("error_message"),
        "started_at": to_rfc3339(item["started_at"]),
        "completed_at": to_rfc3339(item.get("completed_at")),
        "source": item.get("source"),
    }
