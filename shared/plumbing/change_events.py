"""What happened, as named events, read from the table's stream: the one source for outgoing webhooks
(contract §3.11) and live updates (§2.11).

Every state change is already a conditional write on one item, so the stream's old and new images say
exactly what changed and nothing else has to remember to "emit" anything: a code path that forgets to
notify cannot exist. Each event's id is derived from the stream record, so a replayed batch yields the
same ids, which the consumers use to deduplicate (at-least-once in, effectively once out).

Pure: no I/O. Large results that live in S3 are not fetched here (`extra["result_ref"]` says so).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.plumbing import dynamo_codec

# Namespace for deterministic event ids (uuid5 of stream record id + event name).
_EVENT_NAMESPACE = uuid.UUID("8a0c4c5e-5d1e-4b7e-9f55-0e3c2f9b6a11")
_TERMINAL_FAILURES = ("failed", "deadletter")


@dataclass(frozen=True)
class ChangeEvent:
    id: str
    name: str  # contract §3.11 dot name, e.g. job.completed
    org_id: str
    at_ms: int
    data: dict[str, Any]  # the outgoing-webhook `data` of §3.11
    queue_name: str | None = None
    job_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # what other consumers need beyond `data`


Image = dict[str, Any]
Deriver = Callable[[str, Image | None, Image | None], list[ChangeEvent]]


def decode(image: dict[str, Any] | None) -> Image | None:
    return dynamo_codec.decode_item(image) if image else None


def event_id(record_id: str, name: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{record_id}/{name}"))


def _json_or_text(value: Any) -> Any:
    """Payloads, results and tags are stored as JSON text; events carry the JSON value."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


# --- jobs ----------------------------------------------------------------------------------


def _job_events(record_id: str, old: Image | None, new: Image | None) -> list[ChangeEvent]:
    if new is None:
        return []  # deletes (purges, TTL) are not events a user subscribed to
    before = old.get("status") if old else None
    after = new.get("status")
    if before == after:
        return []
    org, queue, job_id = new["org_id"], new["queue_name"], new["id"]
    at_ms = int(new.get("updated_at") or new.get("created_at") or 0)

    def make(name: str, data: dict[str, Any], **extra: Any) -> ChangeEvent:
        return ChangeEvent(
            id=event_id(record_id, name),
            name=name,
            org_id=org,
            at_ms=at_ms,
            data={"job_id": job_id, "queue_name": queue, **data},
            queue_name=queue,
            job_id=job_id,
            extra={"priority": new.get("priority", 0), **{k: v for k, v in extra.items() if v is not None}},
        )

    events: list[ChangeEvent] = []
    if old is None:
        events.append(make("job.created", {"priority": new.get("priority", 0), "status": after}))
        schedule_id = new.get("schedule_id")
        if schedule_id:
            events[-1].data.update({"source": "cron", "schedule_id": schedule_id})
        return events
    events.append(make("job.status", {"old_status": before, "new_status": after}))
    worker = _last_worker(new)
    completion = {
        "completion_webhook": new.get("completion_webhook"),
        "completion_webhook_secret": new.get("completion_webhook_secret"),
    }
    if after == "processing":
        events.append(make("job.started", {"worker_id": worker}))
    elif after == "completed":
        started, finished = new.get("started_at"), new.get("completed_at")
        duration = int(finished - started) if started is not None and finished is not None else None
        events.append(
            make(
                "job.completed",
                {"status": "completed", "result": _json_or_text(new.get("result"))},
                duration_ms=duration,
                result_ref=new.get("result_ref"),
                worker_id=worker,
                **completion,
            )
        )
    elif after in _TERMINAL_FAILURES:
        error = new.get("last_error")
        events.append(
            make(
                "job.failed",
                {"status": after, "error": error},
                retry_count=new.get("retry_count", 0),
                worker_id=worker,
                **completion,
            )
        )
        if after == "deadletter":
            events.append(make("job.deadlettered", {"status": after, "error": error}))
    elif after == "cancelled":
        events.append(make("job.cancelled", {"status": "cancelled", "old_status": before}))
    elif before == "processing" and after in ("pending", "scheduled"):
        # A failed attempt that will run again (or a released lease): no job.failed (§3.11).
        events.append(
            make(
                "job.retried",
                {"status": after, "retry_count": new.get("retry_count", 0), "error": new.get("last_error")},
            )
        )
    elif before in ("deadletter", "failed", "cancelled", "completed") and after in ("pending", "scheduled"):
        events.append(make("job.retried", {"status": after, "retry_count": new.get("retry_count", 0)}))
    return events


def _last_worker(image: Image) -> str | None:
    # A claim and a completion write no history entry: their worker is assigned_worker_id.
    worker = image.get("assigned_worker_id")
    if image.get("status") in ("processing", "completed") and isinstance(worker, str):
        return worker
    events = image.get("events") or []
    return events[-1].get("w") if events and isinstance(events[-1], dict) else None


# --- workers -------------------------------------------------------------------------------


def _worker_events(record_id: str, old: Image | None, new: Image | None) -> list[ChangeEvent]:
    if new is None:
        return []
    org, worker_id = new.get("org_id"), new.get("id")
    if not org or not worker_id:
        return []
    at_ms = int(new.get("updated_at") or 0)
    before, after = (old or {}).get("status"), new.get("status")
    queue = new.get("queue_name")
    base = {"worker_id": worker_id, "queue_name": queue}

    def make(name: str, data: dict[str, Any], **extra: Any) -> ChangeEvent:
        return ChangeEvent(event_id(record_id, name), name, org, at_ms, data, queue_name=queue, extra=extra)

    live = ("healthy", "degraded")
    if after in live and (old is None or before not in live):
        return [make("worker.registered", {**base, "hostname": new.get("hostname")})]
    if after == "offline" and before != "offline":
        return [make("worker.deregistered", base)]
    if after in live and new.get("last_heartbeat") != (old or {}).get("last_heartbeat"):
        return [
            make(
                "worker.heartbeat",
                {"worker_id": worker_id, "status": after, "current_jobs": new.get("current_jobs", 0)},
            )
        ]
    return []


# --- queues --------------------------------------------------------------------------------


def _queue_events(record_id: str, old: Image | None, new: Image | None) -> list[ChangeEvent]:
    if new is None:
        return []
    org = new.get("org_id") or _org_from_pk(new.get("pk", ""))
    queue = new.get("queue_name") or str(new.get("sk", "")).removeprefix("QUEUE#")
    was_enabled = (old or {}).get("enabled", True)
    enabled = new.get("enabled", True)
    at_ms = int(new.get("updated_at") or 0)
    if was_enabled and not enabled:
        name, data = "queue.paused", {"queue_name": queue, "reason": new.get("paused_reason")}
    elif not was_enabled and enabled and old is not None:
        name, data = "queue.resumed", {"queue_name": queue}
    else:
        return []
    return [ChangeEvent(event_id(record_id, name), name, org, at_ms, data, queue_name=queue)]


def _org_from_pk(pk: str) -> str:
    return pk.split("#", 1)[1] if "#" in pk else ""


# --- schedules -----------------------------------------------------------------------------


def _schedule_run_events(record_id: str, old: Image | None, new: Image | None) -> list[ChangeEvent]:
    """A run row is written once per fire (cron or manual); a run that made no job is no trigger."""
    if old is not None or new is None or new.get("status") != "completed" or not new.get("job_id"):
        return []
    data = {
        "schedule_id": new["schedule_id"],
        "job_id": new["job_id"],
        "queue_name": new.get("queue_name"),
        "source": new.get("source", "cron"),
    }
    name = "schedule.triggered"
    at_ms = int(new.get("started_at") or 0)
    return [
        ChangeEvent(
            event_id(record_id, name),
            name,
            new["org_id"],
            at_ms,
            data,
            queue_name=new.get("queue_name"),
            job_id=new["job_id"],
        )
    ]


# --- workflows -----------------------------------------------------------------------------

_WORKFLOW_ENDS = {"completed": "workflow.completed", "failed": "workflow.failed"}


def _workflow_events(record_id: str, old: Image | None, new: Image | None) -> list[ChangeEvent]:
    """The dispatcher rewrites the workflow's status and counts as its jobs move; only the step
    into completed or failed is an event (a retried workflow that ends again is a new one)."""
    if new is None:
        return []
    after = new.get("status")
    name = _WORKFLOW_ENDS.get(str(after))
    if name is None or (old or {}).get("status") == after:
        return []
    data = {"workflow_id": new.get("id"), "name": new.get("name"), "status": after}
    at_ms = int(new.get("updated_at") or 0)
    return [ChangeEvent(event_id(record_id, name), name, new["org_id"], at_ms, data)]


# --- routing -------------------------------------------------------------------------------

# Item kinds by key shape (shared/jobs/expressions/ lists the layout).
_DERIVERS: list[tuple[Callable[[str, str], bool], Deriver]] = [
    # Job items: JOB#{org}#{shard} / {job id} (payload items are JOBP#…, never matched here).
    (lambda pk, sk: pk.startswith("JOB#"), _job_events),
    (lambda pk, sk: pk.startswith("WORKER#"), _worker_events),
    (lambda pk, sk: pk.startswith("ORG#") and sk.startswith("QUEUE#"), _queue_events),
    (lambda pk, sk: pk.startswith("SCHEDULE#") and sk.startswith("RUN#"), _schedule_run_events),
    (lambda pk, sk: pk.startswith("WORKFLOW#") and sk == "WORKFLOW", _workflow_events),
]


def events_from_records(records: Iterable[dict[str, Any]]) -> list[ChangeEvent]:
    """DynamoDB stream records (NEW_AND_OLD_IMAGES) → events, in stream order."""
    events: list[ChangeEvent] = []
    for record in records:
        change = record.get("dynamodb", {})
        keys = change.get("Keys") or change.get("NewImage") or change.get("OldImage") or {}
        pk, sk = keys.get("pk", {}).get("S", ""), keys.get("sk", {}).get("S", "")
        for matches, derive in _DERIVERS:
            if matches(pk, sk):
                record_id = str(record.get("eventID") or change.get("SequenceNumber") or "")
                events.extend(
                    derive(record_id, decode(change.get("OldImage")), decode(change.get("NewImage")))
                )
                break
    return events
