"""The dead-letter queue (contract §2.4, §3.4): list, retry (by ids, by queue, whole org), purge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.functional.jobs_api import JOBS, assert_error, claim, create_job, dead_letter, get_job

DLQ = f"{JOBS}/dlq"


def _dead_letters(api, clock, queues: list[str]) -> list[str]:
    """One dead-lettered job per entry of `queues`, oldest first, a millisecond apart."""
    ids = []
    for queue in queues:
        ids.append(dead_letter(api, clock, queue))
        clock.advance(0.001)
    return ids


def _listed(api, **params) -> list[str]:
    response = api.get(DLQ, params=params)
    assert response.status == 200, response
    return [row["id"] for row in response.json]


# --- GET /jobs/dlq ----------------------------------------------------------------------------


def test_dlq_lists_dead_lettered_jobs_newest_first(api, clock):
    dead = _dead_letters(api, clock, ["a", "b", "a"])
    create_job(api, "a")  # pending: not in the DLQ
    response = api.get(DLQ)
    assert [row["id"] for row in response.json] == list(reversed(dead))
    assert response.headers["x-has-more"] == "false"
    row = response.json[0]
    assert row["status"] == "deadletter"
    assert row["last_error"] == "boom"
    assert row["retry_count"] == row["attempt"] == 0
    assert row["max_retries"] == 0


def test_dlq_filters_by_queue_and_pages(api, clock):
    dead = _dead_letters(api, clock, ["a", "b", "a", "a"])
    assert _listed(api, queue_name="a") == [dead[3], dead[2], dead[0]]
    assert _listed(api, queue="b") == [dead[1]]
    first = api.get(DLQ, params={"queue_name": "a", "limit": 2})
    assert [row["id"] for row in first.json] == [dead[3], dead[2]]
    assert first.headers["x-has-more"] == "true"
    second = api.get(DLQ, params={"queue_name": "a", "limit": 2, "offset": 2})
    assert [row["id"] for row in second.json] == [dead[0]]
    assert second.headers["x-has-more"] == "false"


def test_dlq_ignores_a_status_filter(api, clock):
    dead = _dead_letters(api, clock, ["a"])
    assert _listed(api, status="pending") == dead


def test_dlq_of_one_organization_is_not_visible_to_another(api, other_api, clock):
    _dead_letters(api, clock, ["a"])
    assert _listed(other_api) == []


# --- POST /jobs/dlq/retry ---------------------------------------------------------------------


def test_retry_by_job_ids(api, clock):
    dead = _dead_letters(api, clock, ["a", "a", "a"])
    response = api.post(f"{DLQ}/retry", {"job_ids": [dead[0], dead[2]]})
    assert response.status == 200, response
    body = response.json
    assert body["retried_count"] == 2
    assert sorted(body["retried_jobs"]) == sorted([dead[0], dead[2]])
    assert body["skipped_jobs"] == []
    for job_id in (dead[0], dead[2]):
        job = get_job(api, job_id)
        assert (job["status"], job["retry_count"], job["last_error"]) == ("pending", 0, None)
    assert get_job(api, dead[1])["status"] == "deadletter"
    assert _listed(api) == [dead[1]]
    assert sorted(j["id"] for j in claim(api, "a", limit=10)) == sorted([dead[0], dead[2]])


def test_retry_by_queue_takes_the_oldest_first_up_to_the_limit(api, clock):
    dead = _dead_letters(api, clock, ["a", "b", "a", "a"])
    body = api.post(f"{DLQ}/retry", {"queue_name": "a", "limit": 2}).json
    assert body["retried_count"] == 2
    assert body["retried_jobs"] == [dead[0], dead[2]]
    assert _listed(api) == [dead[3], dead[1]]


def test_retry_the_whole_organization_with_no_body(api, other_api, clock):
    dead = _dead_letters(api, clock, ["a", "b"])
    theirs = dead_letter(other_api, clock, "a")
    response = api.post(f"{DLQ}/retry")  # the SDK may send no body at all
    assert response.status == 200, response
    assert sorted(response.json["retried_jobs"]) == sorted(dead)
    assert _listed(api) == []
    assert _listed(other_api) == [theirs]


def test_retry_skips_ids_that_are_not_dead_lettered(api, other_api, clock):
    dead = _dead_letters(api, clock, ["a"])
    pending = create_job(api, "a")
    theirs = dead_letter(other_api, clock, "a")
    unknown = "00000000-0000-0000-0000-000000000000"
    body = api.post(f"{DLQ}/retry", {"job_ids": [dead[0], pending, theirs, unknown]}).json
    assert body["retried_jobs"] == dead
    assert sorted(body["skipped_jobs"]) == sorted([pending, theirs, unknown])
    assert get_job(other_api, theirs)["status"] == "deadletter"
    assert get_job(api, pending)["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"job_ids": [f"id-{n}" for n in range(101)]}, 400),
        ({"job_ids": ["a", "b", "c"], "limit": 2}, 400),
        ({"limit": 0}, 400),
        ({"limit": 101}, 400),
        ({"job_ids": "not-a-list"}, 422),
        ({"limit": "10"}, 422),
    ],
)
def test_retry_validation_retries_nothing(api, clock, body, status):
    dead = _dead_letters(api, clock, ["a"])
    assert_error(api.post(f"{DLQ}/retry", body), status)
    assert _listed(api) == dead


# --- POST /jobs/dlq/purge ---------------------------------------------------------------------


def test_purge_deletes_every_dead_lettered_job(api, clock):
    dead = _dead_letters(api, clock, ["a", "b"])
    alive = create_job(api, "a")
    response = api.post(f"{DLQ}/purge", {"confirm": True})
    assert response.status == 200, response
    assert response.json == {"purged_count": 2}
    for job_id in dead:
        assert_error(api.get(f"{JOBS}/{job_id}"), 404, "NOT_FOUND")
    assert _listed(api) == []
    assert get_job(api, alive)["status"] == "pending"


def test_purge_by_queue_and_age(api, clock):
    old_a, old_b = _dead_letters(api, clock, ["a", "b"])
    clock.advance(60)
    cutoff = clock.now_ms()
    (new_a,) = _dead_letters(api, clock, ["a"])
    older_than = datetime.fromtimestamp(cutoff / 1000, tz=UTC).isoformat()
    body = api.post(f"{DLQ}/purge", {"confirm": True, "queue_name": "a", "older_than": older_than}).json
    assert body == {"purged_count": 1}
    assert sorted(_listed(api)) == sorted([old_b, new_a])
    assert api.get(f"{JOBS}/{old_a}").status == 404


def test_purge_respects_the_limit(api, clock):
    _dead_letters(api, clock, ["a", "a", "a"])
    assert api.post(f"{DLQ}/purge", {"confirm": True, "limit": 2}).json == {"purged_count": 2}
    assert len(_listed(api)) == 1


def test_purge_frees_the_idempotency_key(api, clock):
    job_id = dead_letter(api, clock, "a", idempotency_key="once")
    api.post(f"{DLQ}/purge", {"confirm": True})
    again = api.post(JOBS, {"queue_name": "a", "payload": {}, "idempotency_key": "once"})
    assert again.status == 201 and again.json["id"] != job_id


def test_purge_of_one_organization_leaves_another_alone(api, other_api, clock):
    theirs = dead_letter(other_api, clock, "a")
    assert api.post(f"{DLQ}/purge", {"confirm": True}).json == {"purged_count": 0}
    assert _listed(other_api) == [theirs]


def test_purge_with_confirm_false_is_400_and_purges_nothing(api, clock):
    dead = _dead_letters(api, clock, ["a"])
    assert_error(api.post(f"{DLQ}/purge", {"confirm": False}), 400, "VALIDATION_ERROR")
    assert _listed(api) == dead


@pytest.mark.parametrize("body", [{}, {"queue_name": "a"}, None])
def test_purge_without_confirm_is_422(api, clock, body):
    dead = _dead_letters(api, clock, ["a"])
    response = api.request("POST", f"{DLQ}/purge", **({} if body is None else {"json_body": body}))
    assert_error(response, 422, "VALIDATION_ERROR")
    assert _listed(api) == dead


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"confirm": "true"}, 422),
        ({"confirm": True, "limit": 0}, 400),
        ({"confirm": True, "limit": 10001}, 400),
        ({"confirm": True, "older_than": "last week"}, 400),
    ],
)
def test_purge_validation(api, clock, body, status):
    dead = _dead_letters(api, clock, ["a"])
    assert_error(api.post(f"{DLQ}/purge", body), status, "VALIDATION_ERROR")
    assert _listed(api) == dead
