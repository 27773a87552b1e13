"""Cron fires end to end on the tests' clock: stream → arming (SQS near, EventBridge far) → the
scheduler handler → jobs and runs. At-least-once delivery, stale messages, catch-up after downtime,
failed fires and the sweep's safety net."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional import schedules_harness as sh
from tests.functional.schedules_harness import SCHEDULES, Harness, iso_at

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


@pytest.fixture
def schedules(api: Any, clock: Any, drain_stream: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return sh.install(api, clock, drain_stream, monkeypatch)


def _eventbridge_schedules() -> dict[str, dict[str, Any]]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    scheduler = aws_clients.client("scheduler")
    group = settings().schedule_group
    return {
        s["Name"]: scheduler.get_schedule(GroupName=group, Name=s["Name"])
        for s in scheduler.list_schedules(GroupName=group).get("Schedules", [])
    }


def _sweep() -> dict[str, Any]:
    from functions.dispatcher.handler import handler

    return handler({"sweep": True})


def test_a_schedule_fires_on_its_seconds_and_makes_one_job_per_fire(schedules: Harness) -> None:
    start = schedules.clock.now_ms()
    created = schedules.create(cron_expression="*/10 * * * * *", payload_template={"n": 1}, priority=3)
    schedules.run_for(35)

    jobs = schedules.jobs()
    assert len(jobs) == 3
    assert sorted(sh.ms(j["created_at"]) for j in jobs) == [start + 10_000, start + 20_000, start + 30_000]
    assert all(j["priority"] == 3 and j["status"] == "pending" for j in jobs)
    full = schedules.api.get(f"/api/v1/jobs/{jobs[0]['id']}").json
    assert full["payload"] == {"n": 1}

    schedule = schedules.get(created["id"])
    assert schedule["run_count"] == 3
    assert schedule["last_run_at"] == iso_at(start + 30_000)
    assert schedule["next_run_at"] == iso_at(start + 40_000)
    runs = schedules.history(created["id"])
    assert [r["status"] for r in runs] == ["completed"] * 3
    assert [r["source"] for r in runs] == ["cron"] * 3
    assert {r["job_id"] for r in runs} == {j["id"] for j in jobs}
    assert schedules.failures == []


def test_every_message_delivered_twice_still_makes_one_job_per_fire(schedules: Harness) -> None:
    schedules.duplicate = True
    created = schedules.create(cron_expression="*/10 * * * * *")
    schedules.run_for(45)
    assert len(schedules.jobs()) == 4
    assert schedules.get(created["id"])["run_count"] == 4
    assert len(schedules.history(created["id"])) == 4


def test_two_deliveries_that_both_read_the_schedule_before_either_fired_make_one_job(
    schedules: Harness,
) -> None:
    """The race the idempotency key and the run's derived key guard: both deliveries pass the
    staleness check, both try to make the job and to record the run."""
    from functions.scheduler import handler as scheduler
    from shared.schedules.arming import FireMessage
    from shared.schedules.fires import FireResult

    created = schedules.create(cron_expression="0 * * * * *")
    fire_ms = sh.ms(created["next_run_at"])
    schedules.clock._now_ms = fire_ms
    firer = scheduler.firer()
    store = firer.store
    org_id = schedules.get(created["id"])["organization_id"]
    before = store.get(org_id, created["id"])
    message = FireMessage(org_id, created["id"], fire_ms)

    assert firer.fire(message) is FireResult.FIRED
    original_get = store.get
    store.get = lambda *_: before  # type: ignore[method-assign]  # the second read predates the first fire
    try:
        assert firer.fire(message) is FireResult.DUPLICATE
    finally:
        store.get = original_get  # type: ignore[method-assign]
    assert len(schedules.jobs()) == 1
    assert schedules.get(created["id"])["run_count"] == 1
    assert len(schedules.history(created["id"])) == 1


def test_a_late_message_fires_once_and_skips_to_the_next_future_run(schedules: Harness) -> None:
    created = schedules.create(cron_expression="0 * * * * *")  # every minute
    schedules.step()  # armed: the first fire's message is in the queue
    first_fire = sh.ms(created["next_run_at"])
    # Ten minutes of downtime: nothing is delivered, then the one message arrives.
    schedules.clock._now_ms = first_fire + 10 * MINUTE_MS + 5_000
    schedules.step()

    jobs = schedules.jobs()
    assert len(jobs) == 1
    schedule = schedules.get(created["id"])
    assert schedule["run_count"] == 1
    assert schedule["next_run_at"] == iso_at(first_fire + 11 * MINUTE_MS)
    [run] = schedules.history(created["id"])
    assert run["status"] == "completed"


def test_the_sweep_fires_a_schedule_whose_message_was_lost_once_it_is_90_s_overdue(
    schedules: Harness,
) -> None:
    created = schedules.create(cron_expression="0 * * * * *")
    schedules.step()
    schedules.sender.pending.clear()  # the message is lost
    fire = sh.ms(created["next_run_at"])

    schedules.clock._now_ms = fire + 60_000
    _sweep()
    assert schedules.jobs() == []  # a late message may still be on its way
    schedules.clock._now_ms = fire + 95_000
    assert _sweep()["schedules_fired"] == {"fired": 1}
    assert len(schedules.jobs()) == 1
    assert schedules.get(created["id"])["next_run_at"] == iso_at(fire + 2 * MINUTE_MS)
    _sweep()
    assert len(schedules.jobs()) == 1
    # The sweep's fire re-arms through the stream like any other: the next fire comes by message.
    schedules.run_until(fire + 2 * MINUTE_MS)
    assert len(schedules.jobs()) == 2


def test_a_message_made_stale_by_a_new_cron_is_dropped(schedules: Harness) -> None:
    created = schedules.create(cron_expression="0 * * * * *")
    schedules.step()
    old_fire = sh.ms(created["next_run_at"])
    schedules.clock.advance(10)
    moved = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"cron_expression": "0 0 * * * *"}).json
    new_fire = sh.ms(moved["next_run_at"])
    assert new_fire > old_fire

    schedules.run_until(old_fire + 30_000)
    assert schedules.jobs() == []  # the old message came and went
    assert schedules.get(created["id"])["run_count"] == 0
    schedules.run_until(new_fire)
    assert len(schedules.jobs()) == 1
    assert schedules.get(created["id"])["next_run_at"] == iso_at(new_fire + HOUR_MS)


def test_a_paused_schedule_makes_no_jobs_and_fires_again_after_resume(schedules: Harness) -> None:
    created = schedules.create(cron_expression="*/10 * * * * *")
    schedules.run_for(15)
    assert len(schedules.jobs()) == 1
    schedules.api.post(f"{SCHEDULES}/{created['id']}/pause")
    schedules.run_for(60)
    assert len(schedules.jobs()) == 1
    schedules.api.post(f"{SCHEDULES}/{created['id']}/resume")  # at +75 s: next fire +80 s
    schedules.run_for(22)
    assert len(schedules.jobs()) == 3


def test_a_deleted_schedule_fires_no_more(schedules: Harness) -> None:
    created = schedules.create(cron_expression="*/10 * * * * *")
    schedules.run_for(15)
    schedules.api.delete(f"{SCHEDULES}/{created['id']}")
    schedules.run_for(60)
    assert len(schedules.jobs()) == 1
    assert schedules.failures == []


def test_a_fire_whose_job_cannot_be_made_records_a_failed_run_and_moves_on(
    schedules: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.plumbing.config import settings

    start = schedules.clock.now_ms()
    created = schedules.create(cron_expression="*/10 * * * * *", payload_template={"blob": "x" * 5000})
    monkeypatch.setenv("SPOOLED_MAX_PAYLOAD_BYTES", "1000")  # the limit fell after the create
    settings.cache_clear()
    schedules.run_for(25)

    assert schedules.jobs() == []
    runs = schedules.history(created["id"])
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert all(r["job_id"] is None and "1000" in r["error_message"] for r in runs)
    schedule = schedules.get(created["id"])
    assert schedule["run_count"] == 2 and schedule["next_run_at"] == iso_at(start + 30_000)
    assert schedules.failures == []  # a client-side failure is the run's outcome, not a retry


def test_a_far_fire_is_armed_in_eventbridge_and_fires_at_its_second(schedules: Harness) -> None:
    from shared.plumbing.config import settings

    midnight = schedules.to_next_midnight()
    created = schedules.create(cron_expression="7 0 3 * * *")  # 03:00:07 daily
    fire = sh.ms(created["next_run_at"])
    assert fire == midnight + 3 * HOUR_MS + 7_000
    schedules.step()
    assert schedules.sender.pending == []  # nothing waits in SQS for three hours
    name = f"cron-{created['id']}"
    armed = _eventbridge_schedules()
    assert list(armed) == [name]
    wake = armed[name]
    assert wake["ScheduleExpression"] == f"at({iso_at(fire - 600_000)[:19]})"
    assert wake["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert wake["Target"]["Arn"] == settings().schedule_queue_arn
    assert wake["Target"]["RoleArn"] == settings().schedule_role_arn
    schedules.run_until(fire + 2_000)
    jobs = schedules.jobs()
    assert [sh.ms(j["created_at"]) for j in jobs] == [fire]
    # Re-armed for tomorrow, again in EventBridge.
    tomorrow = _eventbridge_schedules()[name]
    assert tomorrow["ScheduleExpression"] == f"at({iso_at(fire + 86_400_000 - 600_000)[:19]})"


def test_pause_and_delete_take_the_eventbridge_schedule_away(schedules: Harness) -> None:
    schedules.to_next_midnight()
    created = schedules.create(cron_expression="0 0 3 * * *")
    schedules.step()
    name = f"cron-{created['id']}"
    assert name in _eventbridge_schedules()
    schedules.api.post(f"{SCHEDULES}/{created['id']}/pause")
    schedules.step()
    assert name not in _eventbridge_schedules()
    schedules.api.post(f"{SCHEDULES}/{created['id']}/resume")
    schedules.step()
    assert name in _eventbridge_schedules()
    schedules.api.delete(f"{SCHEDULES}/{created['id']}")
    schedules.step()
    assert _eventbridge_schedules() == {}


def test_an_early_eventbridge_wake_up_is_sent_again_toward_its_second(schedules: Harness) -> None:
    from shared.schedules.arming import FireMessage

    created = schedules.create(cron_expression="0 0 * * * *")  # hourly
    fire = sh.ms(created["next_run_at"])
    org_id = schedules.get(created["id"])["organization_id"]
    schedules.step()
    schedules.sender.pending.clear()
    schedules.clock._now_ms = fire - 700_000  # an hour-long chain woken ~12 minutes early
    schedules.deliver([FireMessage(org_id, created["id"], fire).to_json()])
    assert schedules.jobs() == []
    [(visible_at, _)] = schedules.sender.pending
    assert visible_at == fire
    schedules.run_until(fire)
    assert [sh.ms(j["created_at"]) for j in schedules.jobs()] == [fire]


def test_a_soft_deleted_organizations_schedules_stop_firing(schedules: Harness, org: Any) -> None:
    """Issue 12, finding 9: a soft-deleted organization's cron kept making jobs."""
    from tests.conftest import ADMIN_KEY

    schedules.create(cron_expression="*/10 * * * * *", payload_template={"n": 1})
    schedules.run_for(15)
    assert len(schedules.jobs()) == 1
    deleted = schedules.api.request(
        "DELETE", f"/api/v1/admin/organizations/{org.id}", headers={"X-Admin-Key": ADMIN_KEY}, api_key=None
    )
    assert deleted.status == 204, deleted

    schedules.run_for(60)
    assert _sweep()["schedules_fired"].get("fired", 0) == 0

    from shared.jobs.store import JobStore

    assert len(list(JobStore().iter_jobs(org.id))) == 1
