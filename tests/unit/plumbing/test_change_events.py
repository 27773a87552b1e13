"""Stream images → the events webhooks and live updates see (shared/plumbing/change_events.py)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.plumbing import dynamo_codec
from shared.plumbing.change_events import events_from_records

ORG = "org-1"
JOB = {
    "pk": f"JOB#{ORG}#3",
    "sk": "job-1",
    "id": "job-1",
    "org_id": ORG,
    "queue_name": "emails",
    "priority": 5,
    "retry_count": 0,
    "created_at": 1_000,
    "updated_at": 1_000,
}


def record(old: dict[str, Any] | None, new: dict[str, Any] | None, event_id: str = "rec-1") -> dict[str, Any]:
    image = new or old or {}
    change: dict[str, Any] = {"Keys": dynamo_codec.encode_item({"pk": image["pk"], "sk": image["sk"]})}
    if old is not None:
        change["OldImage"] = dynamo_codec.encode_item(old)
    if new is not None:
        change["NewImage"] = dynamo_codec.encode_item(new)
    return {"eventID": event_id, "eventSource": "aws:dynamodb", "dynamodb": change}


def job(status: str, **fields: Any) -> dict[str, Any]:
    return {**JOB, "status": status, **fields}


CLAIMED_EVENT = [{"t": 2_000, "e": "processing", "w": "worker-9"}]


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (None, job("pending"), ["job.created"]),
        (None, job("scheduled"), ["job.created"]),
        (job("scheduled"), job("pending"), ["job.status"]),
        (job("pending"), job("processing", events=CLAIMED_EVENT), ["job.status", "job.started"]),
        (
            job("processing"),
            job("completed", started_at=2_000, completed_at=2_500),
            ["job.status", "job.completed"],
        ),
        (job("processing"), job("pending", retry_count=1, last_error="boom"), ["job.status", "job.retried"]),
        (
            job("processing"),
            job("deadletter", last_error="boom"),
            ["job.status", "job.failed", "job.deadlettered"],
        ),
        (job("processing"), job("failed", last_error="boom"), ["job.status", "job.failed"]),
        (job("pending"), job("cancelled"), ["job.status", "job.cancelled"]),
        (job("deadletter"), job("pending"), ["job.status", "job.retried"]),
        (job("pending"), job("pending", priority=9), []),  # no status change, no event
        (job("completed"), None, []),  # purges are not events
    ],
)
def test_job_transitions_name_the_events_of_the_contract(
    old: dict[str, Any] | None, new: dict[str, Any] | None, names: list[str]
) -> None:
    assert [e.name for e in events_from_records([record(old, new)])] == names


def test_event_data_follows_the_webhook_contract() -> None:
    [_, completed] = events_from_records(
        [
            record(
                job("processing"),
                job(
                    "completed",
                    started_at=2_000,
                    completed_at=2_750,
                    result='{"sent": 3}',
                    completion_webhook="https://example.com/hook",
                ),
            )
        ]
    )
    assert completed.data == {
        "job_id": "job-1",
        "queue_name": "emails",
        "status": "completed",
        "result": {"sent": 3},
    }
    assert completed.extra["duration_ms"] == 750
    assert completed.extra["completion_webhook"] == "https://example.com/hook"
    assert (completed.org_id, completed.queue_name, completed.job_id) == (ORG, "emails", "job-1")

    [_, started] = events_from_records([record(job("pending"), job("processing", events=CLAIMED_EVENT))])
    assert started.data == {"job_id": "job-1", "queue_name": "emails", "worker_id": "worker-9"}

    [created] = events_from_records([record(None, job("pending"))])
    assert created.data == {"job_id": "job-1", "queue_name": "emails", "priority": 5, "status": "pending"}


def test_a_replayed_record_gives_the_same_event_ids_and_another_record_new_ones() -> None:
    first = events_from_records([record(job("pending"), job("cancelled"), event_id="a")])
    again = events_from_records([record(job("pending"), job("cancelled"), event_id="a")])
    other = events_from_records([record(job("pending"), job("cancelled"), event_id="b")])
    assert [e.id for e in first] == [e.id for e in again]
    assert not {e.id for e in first} & {e.id for e in other}
    assert len({e.id for e in first}) == len(first)


WORKER = {"pk": "WORKER#w-1", "sk": "WORKER", "id": "w-1", "org_id": ORG, "queue_name": "emails"}


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (None, {**WORKER, "status": "healthy", "last_heartbeat": 1}, ["worker.registered"]),
        ({**WORKER, "status": "offline"}, {**WORKER, "status": "healthy"}, ["worker.registered"]),
        (
            {**WORKER, "status": "healthy", "last_heartbeat": 1},
            {**WORKER, "status": "healthy", "last_heartbeat": 2},
            ["worker.heartbeat"],
        ),
        ({**WORKER, "status": "healthy"}, {**WORKER, "status": "offline"}, ["worker.deregistered"]),
        ({**WORKER, "status": "offline"}, {**WORKER, "status": "offline", "jobs_processed": 3}, []),
    ],
)
def test_worker_events(old: dict[str, Any] | None, new: dict[str, Any], names: list[str]) -> None:
    assert [e.name for e in events_from_records([record(old, new)])] == names


QUEUE = {"pk": f"ORG#{ORG}", "sk": "QUEUE#emails", "queue_name": "emails", "org_id": ORG}


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (
            {**QUEUE, "enabled": True},
            {**QUEUE, "enabled": False, "paused_reason": "deploy"},
            ["queue.paused"],
        ),
        (None, {**QUEUE, "enabled": False}, ["queue.paused"]),
        ({**QUEUE, "enabled": False}, {**QUEUE, "enabled": True}, ["queue.resumed"]),
        (None, {**QUEUE, "enabled": True}, []),
        ({**QUEUE, "enabled": True}, {**QUEUE, "enabled": True, "max_retries": 5}, []),
    ],
)
def test_queue_pause_and_resume(old: dict[str, Any] | None, new: dict[str, Any], names: list[str]) -> None:
    events = events_from_records([record(old, new)])
    assert [e.name for e in events] == names
    assert all(e.org_id == ORG and e.data["queue_name"] == "emails" for e in events)


def test_other_items_are_not_events() -> None:
    counter = {"pk": f"QSTAT#{ORG}#emails", "sk": "QSTAT", "pending": 3}
    assert events_from_records([record(None, counter)]) == []


RUN = {
    "pk": f"SCHEDULE#{ORG}#s-1",
    "sk": "RUN#000000000005000#r-1",
    "org_id": ORG,
    "schedule_id": "s-1",
    "queue_name": "reports",
    "started_at": 5_000,
}


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (None, {**RUN, "status": "completed", "job_id": "job-7", "source": "cron"}, ["schedule.triggered"]),
        (None, {**RUN, "status": "completed", "job_id": "job-7", "source": "manual"}, ["schedule.triggered"]),
        (None, {**RUN, "status": "failed", "job_id": None, "error_message": "too large"}, []),
        ({**RUN, "status": "completed", "job_id": "job-7"}, None, []),  # TTL expiry
    ],
)
def test_schedule_runs_trigger(
    old: dict[str, Any] | None, new: dict[str, Any] | None, names: list[str]
) -> None:
    events = events_from_records([record(old, new)])
    assert [e.name for e in events] == names
    for event in events:
        assert event.data == {
            "schedule_id": "s-1",
            "job_id": "job-7",
            "queue_name": "reports",
            "source": new["source"],  # type: ignore[index]
        }


WORKFLOW = {
    "pk": f"WORKFLOW#{ORG}#wf-1",
    "sk": "WORKFLOW",
    "id": "wf-1",
    "org_id": ORG,
    "name": "nightly etl",
    "updated_at": 9_000,
}


def workflow(status: str) -> dict[str, Any]:
    return {**WORKFLOW, "status": status}


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (workflow("running"), workflow("completed"), ["workflow.completed"]),
        (workflow("running"), workflow("failed"), ["workflow.failed"]),
        (workflow("pending"), workflow("failed"), ["workflow.failed"]),
        (workflow("failed"), workflow("running"), []),  # retried: the next end is a new event
        (workflow("pending"), workflow("running"), []),
        (workflow("running"), workflow("cancelled"), []),
        (workflow("completed"), workflow("completed"), []),  # progress recomputed, status kept
        (None, workflow("pending"), []),
        (workflow("completed"), None, []),  # deleted with its organization
    ],
)
def test_a_workflow_that_ends_is_an_event(
    old: dict[str, Any] | None, new: dict[str, Any] | None, names: list[str]
) -> None:
    """docs/webhooks.md lists workflow.completed / workflow.failed, and SDK 1.6.0 lets a webhook
    subscribe to them: they must be derived from the workflow item's status."""
    events = events_from_records([record(old, new)])
    assert [e.name for e in events] == names
    for event in events:
        assert (event.org_id, event.at_ms, event.queue_name) == (ORG, 9_000, None)
        assert event.data == {"workflow_id": "wf-1", "name": "nightly etl", "status": new["status"]}  # type: ignore[index]
