"""Change events → the realtime frames of contract §2.11: `{"type": "<Variant>", "data": {...}}`.

Pure: no I/O. A frame also carries what the fan-out routes it by (its dot name for the `events`
filter, its queue and job for subscriptions and key scopes), which is never sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.plumbing.change_events import ChangeEvent
from shared.plumbing.clock import to_rfc3339

# API Gateway refuses a WebSocket message over 128 KB. A result that would push a frame past this
# is left out of JobCompleted (the client can GET the job); the rest of the frame is small.
MAX_RESULT_BYTES = 96 * 1024
MAX_FRAME_BYTES = 128 * 1024

# Dot names a connection may name in `?events=`; the SDK's own name for job.status is accepted too.
EVENT_NAMES = (
    "job.created",
    "job.status",
    "job.completed",
    "job.failed",
    "queue.stats",
    "worker.heartbeat",
    "worker.registered",
    "worker.deregistered",
    "ping",
    "error",
)
EVENT_ALIASES = {"job.status_changed": "job.status"}


@dataclass(frozen=True)
class Frame:
    type: str  # the Variant: JobCreated, JobStatusChange, ...
    event: str  # its dot name, what `?events=` filters on
    data: dict[str, Any]
    org_id: str = ""
    queue_name: str | None = None
    job_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"type": self.type, "data": self.data}, separators=(",", ":"), ensure_ascii=False)


def ping_frame(now_ms: int) -> Frame:
    return Frame("Ping", "ping", {"timestamp": to_rfc3339(now_ms)})


def error_frame(message: str, now_ms: int) -> Frame:
    return Frame("Error", "error", {"message": message, "timestamp": to_rfc3339(now_ms)})


def _job_frame(variant: str, dot: str, event: ChangeEvent, data: dict[str, Any]) -> Frame:
    body = {"job_id": event.job_id, "queue_name": event.queue_name, **data}
    body["timestamp"] = to_rfc3339(event.at_ms)
    return Frame(variant, dot, body, event.org_id, event.queue_name, event.job_id)


def _result_if_small(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    size = len(json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return {"result": result} if size <= MAX_RESULT_BYTES else {}


def frame_for(event: ChangeEvent) -> Frame | None:
    """The frame a client sees for one change event, or None for events live updates do not carry
    (job.started, job.cancelled, job.deadlettered: each also arrives as a JobStatusChange)."""
    data, extra = event.data, event.extra
    if event.name == "job.created":
        return _job_frame(
            "JobCreated",
            "job.created",
            event,
            {"priority": data.get("priority", 0), "status": data.get("status")},
        )
    if event.name == "job.status":
        changed = {"old_status": data.get("old_status") or "", "new_status": data.get("new_status")}
        return _job_frame("JobStatusChange", "job.status", event, changed)
    if event.name == "job.completed":
        completed = {
            "duration_ms": int(extra.get("duration_ms") or 0),
            **_result_if_small(data.get("result")),
        }
        return _job_frame("JobCompleted", "job.completed", event, completed)
    if event.name == "job.failed" or (event.name == "job.retried" and data.get("error") is not None):
        # Every failed attempt, not only the last: retry_count says how many came before, and
        # a retried attempt's JobStatusChange tells the two apart (processing → pending).
        failed = {
            "error": data.get("error") or "",
            "retry_count": int(extra.get("retry_count", data.get("retry_count", 0))),
        }
        return _job_frame("JobFailed", "job.failed", event, failed)
    if event.name.startswith("worker."):
        return _worker_frame(event)
    return None


def _worker_frame(event: ChangeEvent) -> Frame | None:
    worker_id, at = event.data.get("worker_id"), to_rfc3339(event.at_ms)
    route = {"org_id": event.org_id, "queue_name": event.queue_name}
    if event.name == "worker.registered":
        data = {"worker_id": worker_id, "queue_name": event.queue_name, "timestamp": at}
        return Frame("WorkerRegistered", event.name, data, **route)
    if event.name == "worker.deregistered":
        data = {"worker_id": worker_id, "queue_name": event.queue_name, "timestamp": at}
        return Frame("WorkerDeregistered", event.name, data, **route)
    if event.name == "worker.heartbeat":
        current = event.extra.get("current_job_id")
        data = {
            "worker_id": worker_id,
            "status": event.data.get("status"),
            "current_job_id": current,
            "current_jobs": event.data.get("current_jobs", 0),
            "timestamp": at,
        }
        return Frame("WorkerHeartbeat", event.name, data, **route, job_id=current)
    return None


def frames_for(events: Iterable[ChangeEvent]) -> list[Frame]:
    return [frame for frame in map(frame_for, events) if frame is not None]


def queue_stats_frames(records: Iterable[dict[str, Any]]) -> list[Frame]:
    """QueueStats from the per-queue counter items (shared/jobs/queues/counters.py) whose counts moved.
    The counters trail the jobs by one stream batch, so these frames do too."""
    from shared.plumbing import dynamo_codec

    frames: list[Frame] = []
    for record in records:
        change = record.get("dynamodb", {})
        new = change.get("NewImage")
        keys = change.get("Keys") or new or {}
        pk, sk = keys.get("pk", {}).get("S", ""), keys.get("sk", {}).get("S")
        # The counter item of a queue's partition (QSTAT#{org}#{queue} / QSTAT), not its buckets.
        if not new or not pk.startswith("QSTAT#") or sk != "QSTAT":
            continue
        after, before = dynamo_codec.decode_item(new), dynamo_codec.decode_item(change.get("OldImage") or {})
        counts = _stats_counts(after)
        if before and counts == _stats_counts(before):
            continue  # the totals moved, not the counts by status
        org_id, queue = str(after.get("org_id") or ""), str(after.get("queue_name") or "")
        if not org_id or not queue:
            continue
        data = {"queue_name": queue, **counts, "timestamp": to_rfc3339(int(after.get("updated_at") or 0))}
        frames.append(Frame("QueueStats", "queue.stats", data, org_id, queue))
    return frames


def _stats_counts(counter: dict[str, Any]) -> dict[str, int]:
    def count(status: str) -> int:
        return max(0, int(counter.get(status) or 0))

    # A job that failed for good is dead-lettered here: "failed" counts both, as a dashboard means it.
    return {
        "pending": count("pending"),
        "processing": count("processing"),
        "completed": count("completed"),
        "failed": count("failed") + count("deadletter"),
    }
