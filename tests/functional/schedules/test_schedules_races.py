"""Cron schedules under concurrency and odd input: edits racing a fire in flight, daylight saving
through the API (America/New_York), and client mistakes on every schedule route."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.functional import schedules_harness as sh
from tests.functional.jobs_api import assert_error
from tests.functional.schedules_harness import SCHEDULES, Harness, iso_at

HOUR_MS = 3_600_000
NEW_YORK = "America/New_York"


@pytest.fixture
def schedules(api: Any, clock: Any, drain_stream: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return sh.install(api, clock, drain_stream, monkeypatch)


def _utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _job_times(schedules: Harness) -> list[str]:
    return sorted(iso_at(sh.ms(job["created_at"])) for job in schedules.jobs())


def _fire_early_while(schedules: Harness, schedule_id: str, fire_ms: int, action: Callable[[], None]) -> None:
    """Deliver the fire half a second early, as SQS may: the scheduler reads the schedule, holds
    the message until its millisecond, and `action` (a concurrent API call) lands in that wait."""
    from functions.scheduler import handler as scheduler
    from shared.schedules.arming import FireMessage

    firer = scheduler.firer()
    hold = firer.sleep
    acted: list[bool] = []

    def sleep(seconds: float) -> None:
        acted.append(True)
        action()
        hold(seconds)

    schedules.run_until(fire_ms - 1000)
    schedules.clock._now_ms = fire_ms - 500
    firer.sleep = sleep
    try:
        org_id = schedules.get(schedule_id)["organization_id"]
        schedules.deliver([FireMessage(org_id, schedule_id, fire_ms).to_json()])
    finally:
        firer.sleep = hold
    assert acted == [True]


def _put(schedules: Harness, schedule_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = schedules.api.put(f"{SCHEDULES}/{schedule_id}", body)
    assert response.status == 200, response
    return dict(response.json)


def _post(schedules: Harness, schedule_id: str, action: str) -> None:
    response = schedules.api.post(f"{SCHEDULES}/{schedule_id}/{action}")
    assert response.status == 200, response


# --- edits racing a fire in flight -----------------------------------------------------------


def test_a_new_cron_put_while_a_fire_is_held_decides_the_run_after_it(schedules: Harness) -> None:
    """Hourly, then every two hours, put while the 02:00 fire waits for its millisecond. The new
    cron's next run is that same 02:00, so the fire goes ahead; the run after it must be the new
    cron's 04:00, not the 03:00 of the cron the fire had read."""
    midnight = schedules.to_next_midnight()
    schedules.clock._now_ms = midnight + 90 * 60_000
    created = schedules.create(cron_expression="0 0 * * * *")
    fire = midnight + 2 * HOUR_MS
    assert sh.ms(created["next_run_at"]) == fire

    def put() -> None:
        moved = _put(schedules, created["id"], {"cron_expression": "0 0 */2 * * *"})
        assert sh.ms(moved["next_run_at"]) == fire

    _fire_early_while(schedules, created["id"], fire, put)
    schedules.run_until(fire + 3 * HOUR_MS)

    assert _job_times(schedules) == [iso_at(fire), iso_at(fire + 2 * HOUR_MS)]
    schedule = schedules.get(created["id"])
    assert schedule["next_run_at"] == iso_at(fire + 4 * HOUR_MS)
    assert schedule["run_count"] == 2 and len(schedules.history(created["id"])) == 2
    assert schedules.failures == []


def test_a_new_time_zone_put_while_a_fire_is_held_decides_the_run_after_it(schedules: Harness) -> None:
    """06:00 daily in UTC, moved to Europe/London (the same clock until British Summer Time starts
    on 2027-03-28) while the 2027-03-27 fire is held: the next run is 06:00 BST, 05:00 UTC."""
    schedules.clock._now_ms = _utc_ms("2027-03-26T12:00:00")
    created = schedules.create(cron_expression="0 0 6 * * *")
    fire = _utc_ms("2027-03-27T06:00:00")

    def put() -> None:
        assert sh.ms(_put(schedules, created["id"], {"timezone": "Europe/London"})["next_run_at"]) == fire

    _fire_early_while(schedules, created["id"], fire, put)
    schedules.run_until(fire + 1000)
    schedule = schedules.get(created["id"])
    assert schedule["timezone"] == "Europe/London" and schedule["run_count"] == 1
    assert schedule["next_run_at"] == iso_at(_utc_ms("2027-03-28T05:00:00"))
    schedules.run_until(_utc_ms("2027-03-29T00:00:00"))
    assert _job_times(schedules) == [iso_at(fire), iso_at(_utc_ms("2027-03-28T05:00:00"))]


def test_a_pause_while_a_fire_is_held_lets_that_fire_finish_and_stops_the_next(schedules: Harness) -> None:
    created = schedules.create(cron_expression="*/10 * * * * *")
    fire = sh.ms(created["next_run_at"])
    _fire_early_while(schedules, created["id"], fire, lambda: _post(schedules, created["id"], "pause"))
    schedules.run_for(60)
    assert _job_times(schedules) == [iso_at(fire)]
    schedule = schedules.get(created["id"])
    assert schedule["is_active"] is False and schedule["next_run_at"] is None
    assert schedule["run_count"] == 1
    assert schedules.failures == []


def test_pause_and_resume_while_a_fire_is_held_make_one_job_per_fire(schedules: Harness) -> None:
    created = schedules.create(cron_expression="*/10 * * * * *")
    fire = sh.ms(created["next_run_at"])

    def pause_and_resume() -> None:
        _post(schedules, created["id"], "pause")
        _post(schedules, created["id"], "resume")

    _fire_early_while(schedules, created["id"], fire, pause_and_resume)
    schedules.run_until(fire + 25_000)
    assert _job_times(schedules) == [iso_at(fire), iso_at(fire + 10_000), iso_at(fire + 20_000)]
    assert schedules.get(created["id"])["run_count"] == 3
    assert schedules.failures == []


def test_a_delete_while_a_fire_is_held_leaves_nothing_behind(schedules: Harness) -> None:
    created = schedules.create(cron_expression="*/10 * * * * *")
    fire = sh.ms(created["next_run_at"])

    def delete() -> None:
        assert schedules.api.delete(f"{SCHEDULES}/{created['id']}").status == 204

    _fire_early_while(schedules, created["id"], fire, delete)
    schedules.run_for(60)
    assert len(schedules.jobs()) == 1  # the fire had begun: its job stands, and nothing follows it
    assert_error(schedules.api.get(f"{SCHEDULES}/{created['id']}"), 404, "NOT_FOUND")
    assert_error(schedules.api.get(f"{SCHEDULES}/{created['id']}/history"), 404, "NOT_FOUND")
    assert schedules.api.get(SCHEDULES).json == []
    assert schedules.failures == []


def test_trigger_on_a_deleted_schedule_is_404_and_makes_no_job(schedules: Harness) -> None:
    created = schedules.create(cron_expression="0 0 3 * * *")
    assert schedules.api.delete(f"{SCHEDULES}/{created['id']}").status == 204
    assert_error(schedules.api.post(f"{SCHEDULES}/{created['id']}/trigger"), 404, "NOT_FOUND")
    assert schedules.jobs() == []


# --- daylight saving through the API --------------------------------------------------------


def test_spring_forward_a_missing_local_time_fires_once_at_the_first_real_instant(schedules: Harness) -> None:
    """2027-03-14 in New York: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day."""
    schedules.clock._now_ms = _utc_ms("2027-03-12T12:00:00")
    created = schedules.create(cron_expression="0 30 2 * * *", timezone=NEW_YORK)
    assert created["next_run_at"] == iso_at(_utc_ms("2027-03-13T07:30:00"))  # 02:30 EST
    schedules.run_until(_utc_ms("2027-03-16T00:00:00"))
    assert _job_times(schedules) == [
        iso_at(_utc_ms("2027-03-13T07:30:00")),
        iso_at(_utc_ms("2027-03-14T07:00:00")),  # 03:00 EDT, the first instant after the gap
        iso_at(_utc_ms("2027-03-15T06:30:00")),  # 02:30 EDT
    ]
    assert schedules.get(created["id"])["next_run_at"] == iso_at(_utc_ms("2027-03-16T06:30:00"))


def test_fall_back_a_repeated_local_time_fires_once(schedules: Harness) -> None:
    """2027-11-07 in New York: 01:00-01:59 happens twice (EDT, then EST)."""
    schedules.clock._now_ms = _utc_ms("2027-11-06T12:00:00")
    created = schedules.create(cron_expression="0 30 1 * * *", timezone=NEW_YORK)
    schedules.run_until(_utc_ms("2027-11-09T00:00:00"))
    assert _job_times(schedules) == [
        iso_at(_utc_ms("2027-11-07T05:30:00")),  # 01:30 EDT, and not again at 01:30 EST
        iso_at(_utc_ms("2027-11-08T06:30:00")),  # 01:30 EST
    ]
    assert schedules.get(created["id"])["run_count"] == 2


def test_fall_back_an_every_half_hour_schedule_keeps_its_rhythm(schedules: Harness) -> None:
    schedules.clock._now_ms = _utc_ms("2027-11-07T04:10:00")  # 00:10 EDT
    schedules.create(cron_expression="0 */30 * * * *", timezone=NEW_YORK)
    schedules.run_until(_utc_ms("2027-11-07T07:05:00"))
    assert _job_times(schedules) == [
        iso_at(_utc_ms(f"2027-11-07T{hhmm}:00"))
        for hhmm in ("04:30", "05:00", "05:30", "06:00", "06:30", "07:00")
    ]


# --- client mistakes on every route ---------------------------------------------------------


@pytest.fixture
def schedule_id(schedules: Harness) -> str:
    return str(schedules.create(cron_expression="0 0 3 * * *")["id"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 422),
        (b"[]", 422),
        (b'"text"', 422),
        (b'{"cron_expression": null}', 400),
        (b'{"timezone": null}', 400),
        (b'{"timezone": ""}', 400),
        (b'{"timezone": "Nowhere/Atlantis"}', 400),
        (b'{"timezone": "../../etc/passwd"}', 400),
        (b'{"cron_expression": "0 0 0 30 2 *"}', 400),
        (b'{"cron_expression": 5}', 422),
        (b'{"is_active": "no"}', 422),
        (b'{"priority": 1000}', 400),
        (b'{"name": null}', 400),
        (b'{"tags": 7}', 400),
    ],
)
def test_a_bad_put_is_a_4xx_and_changes_nothing(
    schedules: Harness, schedule_id: str, body: bytes, status: int
) -> None:
    before = schedules.get(schedule_id)
    response = schedules.api.request("PUT", f"{SCHEDULES}/{schedule_id}", body=body)
    assert_error(response, status)
    assert schedules.get(schedule_id) == before


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/trigger"),
        ("GET", "/history"),
    ],
)
def test_other_organizations_and_unknown_ids_are_404_on_every_route(
    schedules: Harness, schedule_id: str, other_api: ApiClient, method: str, suffix: str
) -> None:
    body = b'{"name": "x"}' if method == "PUT" else None
    for client, target in (
        (other_api, schedule_id),
        (schedules.api, "00000000-0000-4000-8000-000000000000"),
        (schedules.api, "x" * 300),
    ):
        response = client.request(method, f"{SCHEDULES}/{target}{suffix}", body=body)
        assert_error(response, 404, "NOT_FOUND")
    schedule = schedules.get(schedule_id)
    assert schedule["name"] == "nightly report" and schedule["is_active"] and schedule["run_count"] == 0


def test_the_sdk_body_of_pause_resume_and_trigger_is_ignored(schedules: Harness, schedule_id: str) -> None:
    for action in ("pause", "resume", "trigger"):
        response = schedules.api.request("POST", f"{SCHEDULES}/{schedule_id}/{action}", body=b"")
        assert response.status == 200, response


def test_a_schedule_too_big_for_one_item_is_413_not_500(schedules: Harness) -> None:
    """Each of payload_template, tags and metadata is within its own limit; together they would
    not fit in one DynamoDB item."""
    template = {"blob": "x" * (300 * 1024 - 20)}
    tags = {"t": "y" * (64 * 1024 - 20)}
    metadata = {"m": "z" * (64 * 1024 - 20)}
    response = schedules.api.post(
        SCHEDULES, sh.schedule_body(payload_template=template, tags=tags, metadata=metadata)
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert schedules.api.get(SCHEDULES).json == []

    created = schedules.create(payload_template=template, tags=tags)
    before = schedules.get(created["id"])
    response = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"metadata": metadata})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert schedules.get(created["id"]) == before
    small = {"m": "z" * 10 * 1024}  # what does fit is still welcome
    response = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"metadata": small})
    assert response.status == 200 and response.json["metadata"] == small, response


@pytest.mark.parametrize("query", [{"limit": "-5"}, {"limit": "abc"}, {"limit": "100000"}, {"offset": "-1"}])
def test_odd_paging_values_are_clamped_not_errors(
    schedules: Harness, schedule_id: str, query: dict[str, str]
) -> None:
    assert schedules.api.get(SCHEDULES, params=query).status == 200
    assert schedules.api.get(f"{SCHEDULES}/{schedule_id}/history", params=query).status == 200


# --- make dev's EventBridge Scheduler stand-in ----------------------------------------------


def test_the_eventbridge_stand_in_fires_every_due_wake_up_not_just_the_first_page(aws: Any) -> None:
    """moto lists 50 schedules a page; a deployment with more far fires than that must not lose
    the rest until the sweep finds them late."""
    from local_stack.scheduler_loop import EventBridgeStandIn
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    config = settings()
    scheduler = aws_clients.client("scheduler")
    for n in range(120):
        scheduler.create_schedule(
            Name=f"cron-{n:03d}",
            GroupName=config.schedule_group,
            ScheduleExpression="at(2026-01-01T00:00:00)",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": config.schedule_queue_arn, "RoleArn": config.schedule_role_arn, "Input": str(n)},
        )
    delivered: list[str] = []
    stand_in = EventBridgeStandIn(config.schedule_group, lambda _arn, body: delivered.append(body))
    assert stand_in.fire_due(_utc_ms("2026-01-01T00:00:01")) == 120
    assert sorted(delivered, key=int) == [str(n) for n in range(120)]
    assert scheduler.list_schedules(GroupName=config.schedule_group)["Schedules"] == []
