"""Cron schedules through the official SDK against `make dev`: the local stack's stream, SQS and
EventBridge Scheduler stand-ins deliver the fires, as on AWS."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from spooled import SpooledClient
from spooled.errors import NotFoundError, ValidationError

from tests.e2e.sdk_helpers import wait_until

pytestmark = pytest.mark.e2e

# Bounds on waiting, not expectations of speed: every two seconds a fire is due.
FIRES_WITHIN_SECONDS = 20.0


@pytest.fixture
def every_two_seconds(client: SpooledClient, queue_name: str) -> Iterator[str]:
    created = client.schedules.create(
        {
            "name": "e2e every two seconds",
            "cron_expression": "*/2 * * * * *",
            "queue_name": queue_name,
            "payload_template": {"report": "heartbeat"},
            "priority": 4,
            "tags": {"source": "e2e"},
        }
    )
    yield created.id
    with contextlib.suppress(NotFoundError):  # the stack is shared: stop it firing into other tests
        client.schedules.delete(created.id)


def _job_ids(client: SpooledClient, queue_name: str) -> set[str]:
    return {job.id for job in client.jobs.list({"queue_name": queue_name, "limit": 100})}


def _fire_ms(client: SpooledClient, job_id: str) -> int:
    """The fire a cron job was made for: its idempotency key is schedule:{id}:{fire ms}."""
    key = client.jobs.get(job_id).idempotency_key or ""
    assert key.startswith("schedule:"), key
    return int(key.rsplit(":", 1)[1])


def test_a_schedule_makes_jobs_on_time_records_runs_and_stops_when_paused(
    client: SpooledClient, queue_name: str, every_two_seconds: str
) -> None:
    schedule = client.schedules.get(every_two_seconds)
    assert schedule.is_active and schedule.next_run_at is not None and schedule.next_run_at.second % 2 == 0

    wait_until(lambda: len(_job_ids(client, queue_name)) >= 2, "two cron jobs", FIRES_WITHIN_SECONDS)
    job = client.jobs.get(sorted(_job_ids(client, queue_name))[0])
    assert job.payload == {"report": "heartbeat"} and job.priority == 4 and job.tags == {"source": "e2e"}
    fire_ms = _fire_ms(client, job.id)
    assert fire_ms % 2000 == 0  # one of the cron's instants
    assert job.created_at.timestamp() * 1000 >= fire_ms  # never before it was due

    runs = client.schedules.get_history(every_two_seconds, limit=50)
    assert runs and all(run.status == "completed" for run in runs)
    assert {run.job_id for run in runs} <= _job_ids(client, queue_name)
    assert client.schedules.get(every_two_seconds).run_count >= 2

    paused = client.schedules.pause(every_two_seconds)
    assert paused.is_active is False and paused.next_run_at is None
    paused_ms = paused.updated_at.timestamp() * 1000
    time.sleep(5.0)  # two and a half periods of the cron
    settled = _job_ids(client, queue_name)
    # A fire reads its schedule at most 1 s before it is due (it is then held to the millisecond), so
    # only fires due by then may still have been made; nothing later, however slow the machine.
    assert all(_fire_ms(client, job_id) <= paused_ms + 1000 for job_id in settled)

    resumed = client.schedules.resume(every_two_seconds)
    assert resumed.is_active is True
    wait_until(lambda: len(_job_ids(client, queue_name)) > len(settled), "a fire after resume", 20)


def test_trigger_list_update_and_delete(client: SpooledClient, queue_name: str) -> None:
    created = client.schedules.create(
        {
            "name": "e2e nightly",
            "cron_expression": "0 0 3 * * *",
            "timezone": "Europe/Berlin",
            "queue_name": queue_name,
            "payload_template": {"kind": "nightly"},
        }
    )
    try:
        assert created.next_run_at is not None
        triggered = client.schedules.trigger(created.id)
        assert client.jobs.get(triggered.job_id).payload == {"kind": "nightly"}
        [run] = client.schedules.get_history(created.id)
        assert run.job_id == triggered.job_id and run.status == "completed"
        assert client.schedules.get(created.id).next_run_at == created.next_run_at

        listed = client.schedules.list({"queue_name": queue_name})
        assert [s.id for s in listed] == [created.id] and listed[0].run_count == 1
        updated = client.schedules.update(created.id, {"cron_expression": "0 30 4 * * *", "name": "later"})
        assert updated.name == "later" and updated.next_run_at != created.next_run_at
        assert updated.timezone == "Europe/Berlin"
        with pytest.raises(ValidationError):
            client.schedules.update(created.id, {"cron_expression": "0 0 25 * * *"})
    finally:
        client.schedules.delete(created.id)
    with pytest.raises(NotFoundError):
        client.schedules.get(created.id)


def test_an_invalid_cron_is_a_validation_error(client: SpooledClient, queue_name: str) -> None:
    with pytest.raises(ValidationError):
        client.schedules.create(
            {
                "name": "bad",
                "cron_expression": "0 0 12 * * MON",
                "queue_name": queue_name,
                "payload_template": {},
            }
        )
    assert client.schedules.list({"queue_name": queue_name}) == []


def test_every_field_round_trips_and_filters_work(client: SpooledClient, queue_name: str) -> None:
    created = client.schedules.create(
        {
            "name": "e2e new york",
            "description": "half past two, New York time",
            "cron_expression": "0 30 2 * * *",
            "timezone": "America/New_York",
            "queue_name": queue_name,
            "payload_template": {"camelCase": [1, {"nested": None}]},
            "priority": -7,
            "max_retries": 0,
            "timeout_seconds": 86400,
            "tags": ["a", "b"],
            "metadata": {"owner": "ops"},
        }
    )
    try:
        schedule = client.schedules.get(created.id)
        assert schedule.name == "e2e new york" and schedule.description == "half past two, New York time"
        assert schedule.timezone == "America/New_York" and schedule.queue_name == queue_name
        assert schedule.payload_template == {"camelCase": [1, {"nested": None}]}
        assert (schedule.priority, schedule.max_retries, schedule.timeout_seconds) == (-7, 0, 86400)
        assert schedule.tags == ["a", "b"] and schedule.metadata == {"owner": "ops"}
        assert schedule.organization_id and schedule.run_count == 0 and schedule.last_run_at is None
        assert schedule.next_run_at == created.next_run_at and schedule.next_run_at is not None
        # 02:30 in New York is 06:30 or 07:30 UTC (EDT/EST), or 07:00 on the spring-forward day.
        assert (schedule.next_run_at.hour, schedule.next_run_at.minute) in {(6, 30), (7, 30), (7, 0)}
        assert schedule.created_at <= schedule.updated_at

        paused = client.schedules.pause(created.id)
        assert client.schedules.pause(created.id).is_active is False  # pausing again is harmless
        assert [s.id for s in client.schedules.list({"queue_name": queue_name, "is_active": False})] == [
            created.id
        ]
        assert client.schedules.list({"queue_name": queue_name, "is_active": True}) == []
        assert paused.updated_at >= schedule.updated_at

        updated = client.schedules.update(
            created.id,
            {
                "timezone": "Asia/Kolkata",
                "payload_template": {"v": 2},
                "description": "now in India",
                "max_retries": 5,
                "tags": {"k": "v"},
                "queue_name": "somewhere-else",  # accepted and not applied
            },
        )
        assert updated.timezone == "Asia/Kolkata" and updated.queue_name == queue_name
        assert updated.payload_template == {"v": 2} and updated.tags == {"k": "v"}
        assert updated.max_retries == 5 and updated.description == "now in India"
        assert updated.is_active is False and updated.next_run_at is None  # still paused

        resumed = client.schedules.resume(created.id)
        assert resumed.is_active is True and resumed.next_run_at is not None
        assert (resumed.next_run_at.hour, resumed.next_run_at.minute) == (21, 0)  # 02:30 IST

        triggered = client.schedules.trigger(created.id)
        assert client.jobs.get(triggered.job_id).payload == {"v": 2}
        assert client.schedules.get(created.id).run_count == 1
        assert [run.job_id for run in client.schedules.get_history(created.id, limit=1)] == [triggered.job_id]
    finally:
        client.schedules.delete(created.id)


def test_every_method_on_an_unknown_schedule_is_not_found(client: SpooledClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    calls = [
        lambda: client.schedules.get(missing),
        lambda: client.schedules.update(missing, {"name": "x"}),
        lambda: client.schedules.delete(missing),
        lambda: client.schedules.pause(missing),
        lambda: client.schedules.resume(missing),
        lambda: client.schedules.trigger(missing),
        lambda: client.schedules.get_history(missing),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            call()
