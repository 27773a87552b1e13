"""Managing jobs (contract §2.4, §3.1, §3.2, §3.5): cancel, retry, priority, bulk create."""

from __future__ import annotations

import pytest

from tests.functional.jobs_api import (
    JOBS,
    assert_error,
    claim,
    claim_one,
    create_job,
    dead_letter,
    detail_codes,
    get_job,
)

# --- DELETE /jobs/{id} ------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [{}, {"scheduled_at": "2099-01-01T00:00:00Z"}])
def test_cancel_a_waiting_job_is_204_and_it_is_never_claimed(api, fields):
    job_id = create_job(api, **fields)
    response = api.delete(f"{JOBS}/{job_id}")
    assert response.status == 204
    assert response.text == ""
    job = get_job(api, job_id)
    assert job["status"] == "cancelled"
    assert job["completed_at"] is not None
    assert claim(api) == []


def test_cancel_a_processing_job_is_409_and_changes_nothing(api):
    job_id = create_job(api)
    leased = claim_one(api)
    assert_error(api.delete(f"{JOBS}/{job_id}"), 409, "CONFLICT")
    job = get_job(api, job_id)
    assert (job["status"], job["lease_id"]) == ("processing", leased["lease_id"])


def test_cancel_a_finished_job_is_409(api, clock):
    completed = create_job(api)
    leased = claim_one(api)
    api.post(f"{JOBS}/{completed}/complete", {"worker_id": "worker-1", "lease_id": leased["lease_id"]})
    cancelled = create_job(api)
    api.delete(f"{JOBS}/{cancelled}")
    dead = dead_letter(api, clock, "dlq-queue")
    for job_id in (completed, cancelled, dead):
        assert_error(api.delete(f"{JOBS}/{job_id}"), 409, "CONFLICT")


def test_cancel_an_unknown_job_is_404(api):
    assert_error(api.delete(f"{JOBS}/00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND")


# --- POST /jobs/{id}/retry --------------------------------------------------------------------


def test_retry_a_dead_lettered_job_makes_it_pending_again(api, clock):
    job_id = dead_letter(api, clock)
    before = get_job(api, job_id)
    response = api.post(f"{JOBS}/{job_id}/retry")  # the SDK sends no body
    assert response.status == 200, response
    job = response.json
    assert job["id"] == job_id
    assert job["status"] == "pending"
    assert job["retry_count"] == before["retry_count"] + 1
    assert job["last_error"] is None
    assert job["payload"] == before["payload"]
    assert [j["id"] for j in claim(api)] == [job_id]


@pytest.mark.parametrize("state", ["pending", "scheduled", "processing", "completed", "cancelled"])
def test_retry_is_409_unless_failed_or_dead_lettered(api, state):
    job_id = create_job(api, **({"scheduled_at": "2099-01-01T00:00:00Z"} if state == "scheduled" else {}))
    if state in ("processing", "completed"):
        leased = claim_one(api)
        if state == "completed":
            api.post(f"{JOBS}/{job_id}/complete", {"worker_id": "worker-1", "lease_id": leased["lease_id"]})
    if state == "cancelled":
        api.delete(f"{JOBS}/{job_id}")
    assert get_job(api, job_id)["status"] == state
    assert_error(api.post(f"{JOBS}/{job_id}/retry"), 409, "CONFLICT")
    assert get_job(api, job_id)["status"] == state


def test_retry_an_unknown_job_is_404(api):
    assert_error(api.post(f"{JOBS}/nope/retry"), 404, "NOT_FOUND")


def test_a_second_retry_of_the_same_job_is_409(api, clock):
    job_id = dead_letter(api, clock)
    assert api.post(f"{JOBS}/{job_id}/retry").status == 200
    assert_error(api.post(f"{JOBS}/{job_id}/retry"), 409, "CONFLICT")


# --- PUT /jobs/{id}/priority ------------------------------------------------------------------


def test_set_priority_returns_old_and_new(api):
    job_id = create_job(api, priority=3)
    response = api.put(f"{JOBS}/{job_id}/priority", {"priority": -20})
    assert response.status == 200, response
    assert response.json == {"job_id": job_id, "old_priority": 3, "new_priority": -20}
    assert get_job(api, job_id)["priority"] == -20


def test_a_new_priority_changes_the_claim_order(api, clock):
    first = create_job(api, priority=0)
    clock.advance(0.001)
    second = create_job(api, priority=0)
    clock.advance(0.001)
    third = create_job(api, priority=0)
    assert api.put(f"{JOBS}/{third}/priority", {"priority": 10}).status == 200
    assert api.put(f"{JOBS}/{first}/priority", {"priority": -10}).status == 200
    order = [claim_one(api)["id"] for _ in range(3)]
    assert order == [third, second, first]


def test_priority_of_a_scheduled_job_applies_once_it_is_due(api, clock):
    later = create_job(api, scheduled_at="2099-01-01T00:00:00Z")
    assert api.put(f"{JOBS}/{later}/priority", {"priority": 50}).json["old_priority"] == 0
    assert get_job(api, later)["status"] == "scheduled"
    assert get_job(api, later)["priority"] == 50


@pytest.mark.parametrize("state", ["processing", "completed", "cancelled"])
def test_set_priority_is_404_unless_pending_or_scheduled(api, state):
    job_id = create_job(api)
    if state != "cancelled":
        leased = claim_one(api)
        if state == "completed":
            api.post(f"{JOBS}/{job_id}/complete", {"worker_id": "worker-1", "lease_id": leased["lease_id"]})
    else:
        api.delete(f"{JOBS}/{job_id}")
    assert_error(api.put(f"{JOBS}/{job_id}/priority", {"priority": 5}), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"priority": 101}, 400, None),
        ({"priority": -101}, 400, None),
        ({"priority": "5"}, 422, "invalid_type"),
        ({}, 422, "missing_field"),
        (None, 422, "empty_body"),
    ],
)
def test_set_priority_validation(api, body, status, code):
    job_id = create_job(api)
    response = api.request(
        "PUT", f"{JOBS}/{job_id}/priority", **({} if body is None else {"json_body": body})
    )
    assert_error(response, status, "VALIDATION_ERROR")
    if code:
        assert code in detail_codes(response)
    assert get_job(api, job_id)["priority"] == 0


# --- POST /jobs/bulk --------------------------------------------------------------------------


def test_bulk_creates_every_job_with_defaults_and_reports_indexes(api):
    body = {
        "queue_name": "bulk",
        "jobs": [{"payload": {"n": n}} for n in range(5)] + [{"payload": {"n": 5}, "priority": 9}],
        "default_priority": 2,
        "default_max_retries": 7,
        "default_timeout_seconds": 45,
    }
    response = api.post(f"{JOBS}/bulk", body)
    assert response.status == 200, response
    result = response.json
    assert (result["total"], result["success_count"], result["failure_count"]) == (6, 6, 0)
    assert result["failed"] == []
    assert [row["index"] for row in result["succeeded"]] == list(range(6))
    assert all(row["created"] is True for row in result["succeeded"])
    jobs = [get_job(api, row["job_id"]) for row in result["succeeded"]]
    assert [job["payload"] for job in jobs] == [{"n": n} for n in range(6)]
    assert [job["priority"] for job in jobs] == [2, 2, 2, 2, 2, 9]
    assert {(job["max_retries"], job["timeout_seconds"], job["queue_name"]) for job in jobs} == {
        (7, 45, "bulk")
    }


def test_bulk_collapses_duplicate_keys_inside_a_batch_and_against_existing_jobs(api):
    existing = api.post(JOBS, {"queue_name": "bulk", "payload": {}, "idempotency_key": "old"}).json["id"]
    body = {
        "queue_name": "bulk",
        "jobs": [
            {"payload": {"n": 0}, "idempotency_key": "dup"},
            {"payload": {"n": 1}},
            {"payload": {"n": 2}, "idempotency_key": "dup"},
            {"payload": {"n": 3}, "idempotency_key": "old"},
        ],
    }
    result = api.post(f"{JOBS}/bulk", body).json
    rows = {row["index"]: row for row in result["succeeded"]}
    assert sorted(rows) == [0, 1, 2, 3]
    assert result["failure_count"] == 0
    assert rows[0]["created"] is True and rows[1]["created"] is True
    assert rows[2] == {"index": 2, "job_id": rows[0]["job_id"], "created": False}
    assert rows[3] == {"index": 3, "job_id": existing, "created": False}
    assert get_job(api, rows[0]["job_id"])["payload"] == {"n": 0}
    assert len(api.get(JOBS, params={"queue_name": "bulk"}).json) == 3


def test_bulk_reports_an_oversized_item_as_failed_and_creates_the_rest(api):
    big = {"blob": "x" * (1024 * 1024)}
    body = {"queue_name": "bulk", "jobs": [{"payload": {"ok": 1}}, {"payload": big}, {"payload": {"ok": 2}}]}
    result = api.post(f"{JOBS}/bulk", body).json
    assert [row["index"] for row in result["succeeded"]] == [0, 2]
    assert [row["index"] for row in result["failed"]] == [1]
    assert isinstance(result["failed"][0]["error"], str) and result["failed"][0]["error"]
    assert (result["total"], result["success_count"], result["failure_count"]) == (3, 2, 1)


def test_bulk_jobs_are_claimed_higher_priority_first(api):
    body = {"queue_name": "bulk", "jobs": [{"payload": {"n": n}, "priority": n % 2} for n in range(6)]}
    result = api.post(f"{JOBS}/bulk", body).json
    ids = [row["job_id"] for row in result["succeeded"]]
    claimed = [j["id"] for j in claim(api, "bulk", limit=6)]
    assert set(claimed) == set(ids)
    assert set(claimed[:3]) == {ids[1], ids[3], ids[5]}


def test_bulk_with_scheduled_items(api):
    body = {
        "queue_name": "bulk",
        "jobs": [{"payload": {}, "scheduled_at": "2099-01-01T00:00:00Z"}, {"payload": {}}],
    }
    rows = api.post(f"{JOBS}/bulk", body).json["succeeded"]
    assert [get_job(api, row["job_id"])["status"] for row in rows] == ["scheduled", "pending"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"queue_name": "bulk", "jobs": []}, 400),
        ({"queue_name": "bulk", "jobs": [{"payload": {}}] * 101}, 400),
        ({"queue_name": "bad name", "jobs": [{"payload": {}}]}, 400),
        ({"queue_name": "bulk", "jobs": [{"payload": {}, "priority": 101}]}, 400),
        ({"queue_name": "bulk", "jobs": [{"payload": {}}], "default_priority": -101}, 400),
        ({"queue_name": "bulk", "jobs": [{"payload": {}}], "default_timeout_seconds": 0}, 400),
        ({"queue_name": "bulk", "jobs": [{}]}, 422),
        ({"queue_name": "bulk", "jobs": {"payload": {}}}, 422),
        ({"queue_name": "bulk"}, 422),
        ({"jobs": [{"payload": {}}]}, 422),
    ],
)
def test_bulk_validation_creates_nothing(api, body, status):
    assert_error(api.post(f"{JOBS}/bulk", body), status, "VALIDATION_ERROR")
    assert api.get(JOBS).json == []
