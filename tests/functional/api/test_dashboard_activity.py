"""GET /api/v1/dashboard/activity (docs/dashboard.md, "Charts"): per-minute jobs created,
completed, failed and dead-lettered, and queue depth, over the last hour, from the stream-kept
1-minute buckets and the queue counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import ApiClient
from tests.functional.jobs_api import JOBS, assert_error, claim_one, create_job, dead_letter

ACTIVITY = "/api/v1/dashboard/activity"


def _points(api: Any, **query: str) -> list[dict[str, int]]:
    response = api.get(ACTIVITY, params=query or None)
    assert response.status == 200, response
    assert response.json["interval_seconds"] == 60
    return response.json["points"]


def _at(points: list[dict[str, int]], minute_s: int) -> dict[str, int]:
    return next(p for p in points if p["t"] == minute_s)


def _minute(clock: Any) -> int:
    return clock.now_ms() // 1000 // 60 * 60


def test_an_empty_organization_has_sixty_zero_minutes_ending_now(api: Any, clock: Any) -> None:
    points = _points(api)
    assert len(points) == 60
    assert points[-1]["t"] == _minute(clock)
    assert [p["t"] for p in points] == list(range(points[0]["t"], points[-1]["t"] + 1, 60))
    assert all(
        p
        == {
            "t": p["t"],
            "created": 0,
            "completed": 0,
            "failed": 0,
            "deadlettered": 0,
            "pending": 0,
            "processing": 0,
        }
        for p in points
    )


def test_flows_land_in_their_minute_and_depth_is_rebuilt_backwards(
    api: Any, clock: Any, drain_stream: Callable[[], int]
) -> None:
    clock.advance(60 - (clock.now_ms() // 1000) % 60)  # start of a minute: no test straddles one
    created_minute = _minute(clock)
    ids = [create_job(api, "emails") for _ in range(3)]
    drain_stream()
    clock.advance(120)
    worked_minute = _minute(clock)
    first = claim_one(api, "emails")
    ok = api.post(f"{JOBS}/{first['id']}/complete", {"worker_id": "worker-1", "lease_id": first["lease_id"]})
    assert ok.status == 200, ok
    claim_one(api, "emails")  # still running at the end
    dead = dead_letter(api, clock, "reports")
    drain_stream()
    clock.advance(60)

    points = _points(api)
    assert points[-1]["t"] == worked_minute + 60
    before, created, between, worked, now = (
        _at(points, created_minute - 60),
        _at(points, created_minute),
        _at(points, created_minute + 60),
        _at(points, worked_minute),
        points[-1],
    )
    assert before["pending"] == 0 and before["created"] == 0
    assert created["created"] == 3 and created["pending"] == 3 and created["processing"] == 0
    assert between["created"] == 0 and between["pending"] == 3
    # The dead-lettered job (another queue) was created and failed in the same minute as the rest.
    assert worked["created"] == 1 and worked["completed"] == 1
    assert worked["failed"] == 1 and worked["deadlettered"] == 1
    assert worked["pending"] == 1 and worked["processing"] == 1
    assert now["pending"] == 1 and now["processing"] == 1 and now["created"] == 0
    assert sum(p["created"] for p in points) == 4
    assert dead not in ids


def test_the_queue_filter_and_the_key_scope_limit_what_is_counted(
    api: Any, drain_stream: Callable[[], int]
) -> None:
    create_job(api, "emails")
    create_job(api, "reports")
    create_job(api, "reports")
    drain_stream()
    assert sum(p["created"] for p in _points(api)) == 3
    assert sum(p["created"] for p in _points(api, queue_name="reports")) == 2
    assert _points(api, queue_name="reports")[-1]["pending"] == 2

    key = api.post("/api/v1/api-keys", {"name": "emails only", "queues": ["emails"]})
    assert key.status == 201, key
    emails_only = ApiClient(key.json["key"])
    assert sum(p["created"] for p in _points(emails_only)) == 1
    assert_error(emails_only.get(ACTIVITY, params={"queue_name": "reports"}), 404, "NOT_FOUND")


def test_the_other_organization_sees_none_of_it(
    api: Any, other_api: Any, drain_stream: Callable[[], int]
) -> None:
    create_job(api, "emails")
    drain_stream()
    assert sum(p["created"] for p in _points(other_api)) == 0


def test_the_dashboards_last_hour_is_the_sixty_minutes_the_charts_show(
    api: Any, clock: Any, drain_stream: Callable[[], int]
) -> None:
    """GET /dashboard's recent_activity and the charts' points count the same minutes: the current
    one and the 59 before it, whatever the minute's place in the hour (both sum the 1-minute
    buckets; a 5-minute window would drop up to four of the oldest minutes)."""
    clock.advance(300 - (clock.now_ms() // 1000) % 300 + 4 * 60)  # the 5th minute of a 5-minute span
    create_job(api, "emails")
    drain_stream()
    clock.advance(30 * 60)
    create_job(api, "emails")
    create_job(api, "reports")
    drain_stream()

    def last_hour() -> tuple[int, int]:
        dashboard = api.get("/api/v1/dashboard")
        assert dashboard.status == 200, dashboard
        charts = sum(p["created"] for p in _points(api))
        return dashboard.json["recent_activity"]["jobs_created_1h"], charts

    clock.advance(29 * 60 + 59)  # the last second of the 60th minute that holds the first job
    assert last_hour() == (3, 3)
    clock.advance(1)  # a minute later it has left both
    assert last_hour() == (2, 2)
