"""Schedule endpoints (contract §2.7) through the real API handler: documents, validation, edits,
tenancy and key scope, quotas, manual triggers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, ApiClient, Org
from tests.functional import schedules_harness as sh
from tests.functional.jobs_api import assert_error
from tests.functional.schedules_harness import SCHEDULES, Harness, iso_at, schedule_body

MINUTE_MS = 60_000


@pytest.fixture
def schedules(api: Any, clock: Any, drain_stream: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return sh.install(api, clock, drain_stream, monkeypatch)


def _field_of(response: Any) -> set[str]:
    return {detail["field"] for detail in response.json.get("details", [])}


# --- create and read -------------------------------------------------------------------------


def test_create_answers_201_with_the_next_run_and_get_returns_the_whole_schedule(schedules: Harness) -> None:
    now = schedules.clock.now_ms()  # a whole minute (see the harness)
    created = schedules.create(
        cron_expression="0 */15 * * * *",
        description="sales numbers",
        tags={"team": "finance"},
        metadata={"owner": "ana"},
        priority=5,
    )
    assert set(created) == {"id", "name", "cron_expression", "next_run_at"}
    assert created["cron_expression"] == "0 */15 * * * *"
    minute = now // MINUTE_MS % 60
    expected = now + ((15 - minute % 15) or 15) * MINUTE_MS
    assert created["next_run_at"] == iso_at(expected)

    schedule = schedules.get(created["id"])
    assert schedule["organization_id"]
    assert schedule["name"] == "nightly report" and schedule["description"] == "sales numbers"
    assert schedule["timezone"] == "UTC" and schedule["queue_name"] == "reports"
    assert schedule["payload_template"] == {"report": "sales"}
    assert (schedule["priority"], schedule["max_retries"], schedule["timeout_seconds"]) == (5, 3, 300)
    assert schedule["is_active"] is True and schedule["run_count"] == 0 and schedule["last_run_at"] is None
    assert schedule["next_run_at"] == created["next_run_at"]
    assert schedule["tags"] == {"team": "finance"} and schedule["metadata"] == {"owner": "ana"}
    assert schedule["created_at"] == schedule["updated_at"] == iso_at(now)


@pytest.mark.parametrize(
    ("timezone", "offset_hours"),
    [("UTC", 0), ("+05:30", 5.5), ("-03:00", -3), ("Asia/Tokyo", 9)],
)
def test_next_run_follows_the_wall_clock_of_the_time_zone(
    schedules: Harness, timezone: str, offset_hours: float
) -> None:
    created = schedules.create(cron_expression="0 0 12 * * *", timezone=timezone)
    noon_utc_ms = sh.ms(created["next_run_at"]) + int(offset_hours * 3_600_000)
    # 12:00 local is 12:00 UTC shifted by the offset, and the first such moment after now.
    assert noon_utc_ms % 86_400_000 == 12 * 3_600_000
    assert schedules.clock.now_ms() < sh.ms(created["next_run_at"]) <= schedules.clock.now_ms() + 86_400_000
    assert schedules.get(created["id"])["timezone"] == timezone


def test_a_five_field_expression_fires_at_second_zero(schedules: Harness) -> None:
    created = schedules.create(cron_expression="*/5 * * * *")
    assert created["next_run_at"].endswith(":00.000000Z")


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"cron_expression": "61 * * * * *"}, 400, "cron_expression"),
        ({"cron_expression": "0 0 12 * * MON"}, 400, "cron_expression"),
        ({"cron_expression": "0 0 0 31 2 *"}, 400, "cron_expression"),  # never fires
        ({"cron_expression": "* * *"}, 400, "cron_expression"),  # shorter than 9 characters
        ({"timezone": "Mars/Olympus_Mons"}, 400, "timezone"),
        ({"timezone": "+25:00"}, 400, "timezone"),
        ({"name": ""}, 400, "name"),
        ({"priority": 101}, 400, "priority"),
        ({"max_retries": -1}, 400, "max_retries"),
        ({"timeout_seconds": 0}, 400, "timeout_seconds"),
        ({"queue_name": "bad queue!"}, 400, "queue_name"),
        ({"tags": "urgent"}, 400, "tags"),
        ({"priority": "5"}, 422, "priority"),
    ],
)
def test_invalid_schedules_are_refused_and_nothing_is_written(
    schedules: Harness, fields: dict[str, Any], status: int, field: str
) -> None:
    response = schedules.api.post(SCHEDULES, schedule_body(**fields))
    assert_error(response, status, "VALIDATION_ERROR")
    assert field in _field_of(response)
    assert schedules.api.get(SCHEDULES).json == []


def test_the_payload_template_key_is_required(schedules: Harness) -> None:
    body = schedule_body()
    del body["payload_template"]
    response = schedules.api.post(SCHEDULES, body)
    assert_error(response, 422, "VALIDATION_ERROR")
    assert "payload_template" in _field_of(response)


def test_a_null_payload_template_is_a_null_payload(schedules: Harness) -> None:
    created = schedules.create(payload_template=None)
    assert schedules.get(created["id"])["payload_template"] is None


def test_an_oversized_payload_template_is_413(schedules: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.plumbing.config import settings

    monkeypatch.setenv("SPOOLED_MAX_PAYLOAD_BYTES", "1000")
    settings.cache_clear()
    response = schedules.api.post(SCHEDULES, schedule_body(payload_template={"blob": "x" * 2000}))
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert schedules.api.get(SCHEDULES).json == []


def test_list_is_newest_first_with_filters_and_paging(schedules: Harness) -> None:
    ids = []
    for n in range(5):
        ids.append(schedules.create(name=f"s{n}", queue_name="reports" if n % 2 == 0 else "emails")["id"])
        schedules.clock.advance(1)
    schedules.api.post(f"{SCHEDULES}/{ids[4]}/pause")

    listed = schedules.api.get(SCHEDULES).json
    assert [s["id"] for s in listed] == ids[::-1]
    assert [s["id"] for s in schedules.api.get(SCHEDULES, params={"queue_name": "emails"}).json] == [
        ids[3],
        ids[1],
    ]
    active = schedules.api.get(SCHEDULES, params={"is_active": "true"}).json
    assert [s["id"] for s in active] == [ids[3], ids[2], ids[1], ids[0]]
    paused = schedules.api.get(SCHEDULES, params={"is_active": "false"}).json
    assert [s["id"] for s in paused] == [ids[4]]
    page = schedules.api.get(SCHEDULES, params={"limit": 2, "offset": 1}).json
    assert [s["id"] for s in page] == [ids[3], ids[2]]


# --- edits -----------------------------------------------------------------------------------


def test_put_changes_given_fields_only_and_ignores_queue_name(schedules: Harness) -> None:
    created = schedules.create(tags=["a"])
    before = schedules.get(created["id"])
    schedules.clock.advance(5)
    response = schedules.api.put(
        f"{SCHEDULES}/{created['id']}",
        {"name": "renamed", "priority": -3, "queue_name": "elsewhere", "payload_template": [1, 2]},
    )
    assert response.status == 200, response
    after = response.json
    assert after["name"] == "renamed" and after["priority"] == -3 and after["payload_template"] == [1, 2]
    assert after["queue_name"] == "reports"  # accepted, not applied
    assert after["tags"] == ["a"] and after["cron_expression"] == before["cron_expression"]
    assert after["next_run_at"] == before["next_run_at"]  # same cron: same next run
    assert after["updated_at"] != before["updated_at"]
    assert schedules.get(created["id"]) == after


def test_put_of_a_new_cron_or_zone_recomputes_the_next_run(schedules: Harness) -> None:
    created = schedules.create(cron_expression="0 0 3 * * *")
    schedules.clock.advance(20)
    now = schedules.clock.now_ms()
    moved = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"cron_expression": "*/30 * * * * *"}).json
    assert moved["next_run_at"] == iso_at(now + 10_000)
    zoned = schedules.api.put(
        f"{SCHEDULES}/{created['id']}", {"cron_expression": "0 0 9 * * *", "timezone": "+02:00"}
    ).json
    assert sh.ms(zoned["next_run_at"]) % 86_400_000 == 7 * 3_600_000


def test_put_with_an_invalid_cron_is_400_and_changes_nothing(schedules: Harness) -> None:
    created = schedules.create()
    before = schedules.get(created["id"])
    response = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"name": "x", "cron_expression": "bad"})
    assert_error(response, 400, "VALIDATION_ERROR")
    response = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"name": "x", "timezone": "Nowhere/City"})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert schedules.get(created["id"]) == before


def test_pause_and_resume(schedules: Harness) -> None:
    created = schedules.create(cron_expression="0 * * * * *")
    paused = schedules.api.post(f"{SCHEDULES}/{created['id']}/pause")
    assert paused.status == 200, paused
    assert paused.json["is_active"] is False and paused.json["next_run_at"] is None
    again = schedules.api.post(f"{SCHEDULES}/{created['id']}/pause")
    assert again.status == 200 and again.json == paused.json

    schedules.clock.advance(3 * 60 + 20)
    resumed = schedules.api.post(f"{SCHEDULES}/{created['id']}/resume")
    assert resumed.status == 200, resumed
    assert resumed.json["is_active"] is True
    # Recomputed from now: the next whole minute after the resume, not the one missed while paused.
    assert resumed.json["next_run_at"] == iso_at((schedules.clock.now_ms() // MINUTE_MS + 1) * MINUTE_MS)
    assert schedules.api.post(f"{SCHEDULES}/{created['id']}/resume").json == resumed.json


def test_put_is_active_pauses_and_resumes_too(schedules: Harness) -> None:
    created = schedules.create()
    off = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"is_active": False}).json
    assert off["is_active"] is False and off["next_run_at"] is None
    on = schedules.api.put(f"{SCHEDULES}/{created['id']}", {"is_active": True}).json
    assert on["is_active"] is True and on["next_run_at"] is not None


def test_delete_is_204_then_everything_is_404(schedules: Harness) -> None:
    created = schedules.create()
    deleted = schedules.api.delete(f"{SCHEDULES}/{created['id']}")
    assert deleted.status == 204 and deleted.text == ""
    for method, suffix in [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/trigger"),
        ("GET", "/history"),
    ]:
        body = {"name": "x"} if method == "PUT" else None
        response = schedules.api.request(method, f"{SCHEDULES}/{created['id']}{suffix}", json_body=body)
        assert_error(response, 404, "NOT_FOUND")
    assert schedules.api.get(SCHEDULES).json == []


def test_unknown_and_absurd_ids_are_404(schedules: Harness) -> None:
    for schedule_id in ("0d3c1f0e-0000-4000-8000-000000000000", "x" * 1000, "a#b"):
        assert_error(schedules.api.get(f"{SCHEDULES}/{schedule_id}"), 404, "NOT_FOUND")


# --- tenancy and scope -----------------------------------------------------------------------


def test_another_organization_cannot_see_or_touch_a_schedule(
    schedules: Harness, other_api: ApiClient
) -> None:
    created = schedules.create()
    base = f"{SCHEDULES}/{created['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("PUT", base, {"name": "stolen"}),
        ("DELETE", base, None),
        ("POST", f"{base}/pause", None),
        ("POST", f"{base}/resume", None),
        ("POST", f"{base}/trigger", None),
        ("GET", f"{base}/history", None),
    ]:
        response = other_api.request(method, path, json_body=body)
        assert_error(response, 404, "NOT_FOUND")
    assert other_api.get(SCHEDULES).json == []
    assert schedules.get(created["id"])["name"] == "nightly report"
    assert schedules.jobs() == []


def test_a_queue_scoped_key_creates_only_in_its_queues_and_sees_only_those(schedules: Harness) -> None:
    outside = schedules.create(queue_name="billing")
    key = schedules.api.post("/api/v1/api-keys", {"name": "reports only", "queues": ["reports"]}).json["key"]
    scoped = ApiClient(key)
    refused = scoped.post(SCHEDULES, schedule_body(queue_name="billing"))
    assert_error(refused, 403, "ACCESS_DENIED")
    inside = scoped.post(SCHEDULES, schedule_body(queue_name="reports"))
    assert inside.status == 201, inside

    assert [s["id"] for s in scoped.get(SCHEDULES).json] == [inside.json["id"]]
    assert scoped.get(SCHEDULES, params={"queue_name": "billing"}).json == []
    for method, suffix in [("GET", ""), ("POST", "/trigger"), ("DELETE", ""), ("GET", "/history")]:
        response = scoped.request(method, f"{SCHEDULES}/{outside['id']}{suffix}")
        assert_error(response, 404, "NOT_FOUND")
    assert scoped.post(f"{SCHEDULES}/{inside.json['id']}/trigger").status == 200


# --- quotas ----------------------------------------------------------------------------------


def test_the_schedule_limit_is_a_quota_and_a_delete_frees_a_slot(schedules: Harness, org: Org) -> None:
    patched = schedules.api.request(
        "PATCH",
        f"/api/v1/admin/organizations/{org.id}",
        json_body={"custom_limits": {"max_schedules": 2}},
        headers={"X-Admin-Key": ADMIN_KEY},
    )
    assert patched.status == 200, patched
    first = schedules.create()
    schedules.create()
    refused = schedules.api.post(SCHEDULES, schedule_body())
    body = assert_error(refused, 429, "QUOTA_EXCEEDED")
    assert "retry-after" not in refused.headers
    assert body["resource"] == "schedules" and body["limit"] == 2 and body["current"] == 2
    assert schedules.api.delete(f"{SCHEDULES}/{first['id']}").status == 204
    schedules.create()
    usage = schedules.api.get("/api/v1/organizations/usage").json["usage"]["schedules"]
    assert usage["current"] == 2 and usage["limit"] == 2


# --- manual trigger --------------------------------------------------------------------------


def test_trigger_makes_the_job_now_records_a_manual_run_and_keeps_the_next_run(schedules: Harness) -> None:
    created = schedules.create(
        cron_expression="0 0 3 * * *",
        payload_template={"report": "sales", "n": 1},
        priority=7,
        max_retries=1,
        timeout_seconds=60,
        tags={"kind": "report"},
    )
    before = schedules.get(created["id"])
    schedules.clock.advance(42)
    triggered = schedules.api.post(f"{SCHEDULES}/{created['id']}/trigger")
    assert triggered.status == 200, triggered
    assert triggered.json["triggered_at"] == iso_at(schedules.clock.now_ms())

    job = schedules.api.get(f"/api/v1/jobs/{triggered.json['job_id']}").json
    assert job["queue_name"] == "reports" and job["status"] == "pending"
    assert job["payload"] == {"report": "sales", "n": 1}
    assert (job["priority"], job["max_retries"], job["timeout_seconds"]) == (7, 1, 60)
    assert job["tags"] == {"kind": "report"}

    after = schedules.get(created["id"])
    assert after["run_count"] == 1 and after["last_run_at"] == triggered.json["triggered_at"]
    assert after["next_run_at"] == before["next_run_at"]
    [run] = schedules.history(created["id"])
    assert run["status"] == "completed" and run["job_id"] == triggered.json["job_id"]
    assert run["source"] == "manual" and run["schedule_id"] == created["id"]
    assert run["started_at"] == triggered.json["triggered_at"]


def test_trigger_works_while_paused(schedules: Harness) -> None:
    created = schedules.create()
    schedules.api.post(f"{SCHEDULES}/{created['id']}/pause")
    triggered = schedules.api.post(f"{SCHEDULES}/{created['id']}/trigger")
    assert triggered.status == 200, triggered
    assert schedules.get(created["id"])["is_active"] is False
    assert [j["id"] for j in schedules.jobs()] == [triggered.json["job_id"]]


def test_a_trigger_whose_job_cannot_be_made_is_413_and_a_failed_run(
    schedules: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.plumbing.config import settings

    created = schedules.create(payload_template={"blob": "x" * 5000})
    monkeypatch.setenv("SPOOLED_MAX_PAYLOAD_BYTES", "1000")  # the limit fell after the create
    settings.cache_clear()
    response = schedules.api.post(f"{SCHEDULES}/{created['id']}/trigger")
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    [run] = schedules.history(created["id"])
    assert run["status"] == "failed" and run["job_id"] is None and "limit" in run["error_message"]
    assert schedules.jobs() == []


def test_history_is_newest_first_and_limited(schedules: Harness) -> None:
    created = schedules.create()
    job_ids = []
    for _ in range(4):
        job_ids.append(schedules.api.post(f"{SCHEDULES}/{created['id']}/trigger").json["job_id"])
        schedules.clock.advance(1)
    runs = schedules.history(created["id"], limit=3)
    assert [r["job_id"] for r in runs] == job_ids[::-1][:3]
    assert len(schedules.api.get(f"{SCHEDULES}/{created['id']}/history").json) == 4


def test_deleting_an_organizations_schedules_leaves_other_organizations_alone(
    schedules: Harness, other_api: ApiClient, org: Org
) -> None:
    from shared.schedules.store import ScheduleStore

    schedules.create()
    schedules.create(queue_name="emails")
    theirs = other_api.post(SCHEDULES, schedule_body())
    assert theirs.status == 201, theirs
    assert ScheduleStore().delete_all(org.id) == 2
    assert schedules.api.get(SCHEDULES).json == []
    assert [s["id"] for s in other_api.get(SCHEDULES).json] == [theirs.json["id"]]
