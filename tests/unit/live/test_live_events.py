"""Change events → realtime frames (contract §2.11): which events become which frame, with what data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.live.events import MAX_FRAME_BYTES, Frame, error_frame, frame_for, ping_frame, queue_stats_frames
from shared.plumbing import dynamo_codec
from shared.plumbing.change_events import ChangeEvent

AT_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
AT = "2026-01-01T00:00:00.000000Z"
ORG = "org-1"
JOB = "11111111-2222-3333-4444-555555555555"


def job_event(name: str, data: dict[str, Any], **extra: Any) -> ChangeEvent:
    return ChangeEvent(
        id="e1",
        name=name,
        org_id=ORG,
        at_ms=AT_MS,
        data={"job_id": JOB, "queue_name": "emails", **data},
        queue_name="emails",
        job_id=JOB,
        extra={"priority": 0, **extra},
    )


def worker_event(name: str, data: dict[str, Any], **extra: Any) -> ChangeEvent:
    return ChangeEvent(
        id="e2", name=name, org_id=ORG, at_ms=AT_MS, data=data, queue_name="emails", extra=extra
    )


JOB_IDS = {"job_id": JOB, "queue_name": "emails"}


@pytest.mark.parametrize(
    ("event", "variant", "data"),
    [
        (
            job_event("job.created", {"priority": 7, "status": "pending"}),
            "JobCreated",
            {**JOB_IDS, "priority": 7, "status": "pending", "timestamp": AT},
        ),
        (
            job_event("job.status", {"old_status": "pending", "new_status": "processing"}),
            "JobStatusChange",
            {**JOB_IDS, "old_status": "pending", "new_status": "processing", "timestamp": AT},
        ),
        (
            job_event("job.completed", {"status": "completed", "result": {"sent": 3}}, duration_ms=1234),
            "JobCompleted",
            {**JOB_IDS, "duration_ms": 1234, "result": {"sent": 3}, "timestamp": AT},
        ),
        # No result: the key is left out, as the reference skips a None result.
        (
            job_event("job.completed", {"status": "completed", "result": None}, duration_ms=5),
            "JobCompleted",
            {**JOB_IDS, "duration_ms": 5, "timestamp": AT},
        ),
        (
            job_event("job.failed", {"status": "deadletter", "error": "boom"}, retry_count=3),
            "JobFailed",
            {**JOB_IDS, "error": "boom", "retry_count": 3, "timestamp": AT},
        ),
        # A failed attempt that will run again is a JobFailed too: its retry_count says which.
        (
            job_event("job.retried", {"status": "pending", "retry_count": 1, "error": "timeout"}),
            "JobFailed",
            {**JOB_IDS, "error": "timeout", "retry_count": 1, "timestamp": AT},
        ),
        (
            worker_event("worker.registered", {"worker_id": "w1", "queue_name": "emails", "hostname": "h"}),
            "WorkerRegistered",
            {"worker_id": "w1", "queue_name": "emails", "timestamp": AT},
        ),
        (
            worker_event("worker.deregistered", {"worker_id": "w1", "queue_name": "emails"}),
            "WorkerDeregistered",
            {"worker_id": "w1", "queue_name": "emails", "timestamp": AT},
        ),
        (
            worker_event("worker.heartbeat", {"worker_id": "w1", "status": "healthy", "current_jobs": 2}),
            "WorkerHeartbeat",
            {
                "worker_id": "w1",
                "status": "healthy",
                "current_job_id": None,
                "current_jobs": 2,
                "timestamp": AT,
            },
        ),
    ],
)
def test_each_event_becomes_its_frame(event: ChangeEvent, variant: str, data: dict[str, Any]) -> None:
    frame = frame_for(event)
    assert frame is not None
    assert json.loads(frame.to_json()) == {"type": variant, "data": data}
    assert frame.org_id == ORG and frame.queue_name == "emails"


@pytest.mark.parametrize(
    "event",
    [
        # Each of these also arrives as a JobStatusChange; live updates carry no second frame.
        job_event("job.started", {"worker_id": "w1"}),
        job_event("job.cancelled", {"status": "cancelled", "old_status": "pending"}),
        job_event("job.deadlettered", {"status": "deadletter", "error": "boom"}),
        # A manual retry of a dead-lettered job is no failure.
        job_event("job.retried", {"status": "pending", "retry_count": 0}),
        worker_event("queue.paused", {"queue_name": "emails", "reason": None}),
    ],
)
def test_events_without_a_frame(event: ChangeEvent) -> None:
    assert frame_for(event) is None


def test_frames_route_by_job_and_queue_but_do_not_send_routing_fields() -> None:
    frame = frame_for(job_event("job.created", {"priority": 0}))
    assert frame is not None
    assert (frame.event, frame.queue_name, frame.job_id) == ("job.created", "emails", JOB)
    assert set(json.loads(frame.to_json())) == {"type", "data"}


def test_a_result_too_large_for_one_websocket_message_is_left_out() -> None:
    big = {"blob": "x" * (MAX_FRAME_BYTES + 1)}
    frame = frame_for(job_event("job.completed", {"status": "completed", "result": big}, duration_ms=1))
    assert frame is not None
    assert "result" not in frame.data and frame.data["duration_ms"] == 1
    assert len(frame.to_json().encode()) < MAX_FRAME_BYTES


def test_ping_and_error_frames() -> None:
    assert json.loads(ping_frame(AT_MS).to_json()) == {"type": "Ping", "data": {"timestamp": AT}}
    assert json.loads(error_frame("nope", AT_MS).to_json()) == {
        "type": "Error",
        "data": {"message": "nope", "timestamp": AT},
    }


def counter_record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    keys = {"pk": f"QSTAT#{ORG}#emails", "sk": "QSTAT"}
    change: dict[str, Any] = {"Keys": dynamo_codec.encode_item(keys)}
    if old is not None:
        change["OldImage"] = dynamo_codec.encode_item({**keys, **old})
    if new is not None:
        change["NewImage"] = dynamo_codec.encode_item({**keys, **new})
    return {"eventID": "r1", "dynamodb": change}


COUNTER = {"org_id": ORG, "queue_name": "emails", "updated_at": AT_MS}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # The first counts of a queue.
        (
            None,
            {**COUNTER, "pending": 2},
            {"queue_name": "emails", "pending": 2, "processing": 0, "completed": 0, "failed": 0},
        ),
        # A dead-lettered job counts as failed; a negative count (a replayed batch) as zero.
        (
            {**COUNTER, "processing": 1},
            {**COUNTER, "processing": -1, "deadletter": 1, "completed": 4},
            {"queue_name": "emails", "pending": 0, "processing": 0, "completed": 4, "failed": 1},
        ),
        # Only the monotonic totals moved: no frame.
        ({**COUNTER, "pending": 1, "created_total": 1}, {**COUNTER, "pending": 1, "created_total": 2}, None),
        # A deleted counter item: no frame.
        ({**COUNTER, "pending": 1}, None, None),
    ],
)
def test_queue_stats_from_counter_items(
    old: dict[str, Any] | None, new: dict[str, Any] | None, expected: dict[str, Any] | None
) -> None:
    frames = queue_stats_frames([counter_record(old, new)])
    if expected is None:
        assert frames == []
        return
    assert frames == [
        Frame("QueueStats", "queue.stats", {**expected, "timestamp": AT}, org_id=ORG, queue_name="emails")
    ]


def test_queue_stats_ignore_other_items() -> None:
    record = counter_record(None, {**COUNTER, "pending": 1})
    record["dynamodb"]["Keys"]["sk"] = {"S": "QUEUE#emails"}
    assert queue_stats_frames([record]) == []


def test_queue_stats_ignore_the_activity_buckets_beside_the_counters() -> None:
    # The buckets share the counter item's partition (QSTAT#{org}#{queue}) and carry queue_name and
    # counts too; only the QSTAT item is a queue's counts.
    record = counter_record(None, {**COUNTER, "pending": 1})
    record["dynamodb"]["Keys"]["sk"] = {"S": "ACT#m1#0000000060"}
    assert queue_stats_frames([record]) == []
