"""Reading jobs (contract §1.5, §2.4, §3.14): list filters and paging, get, batch status, stats,
history."""

from __future__ import annotations

import pytest

from tests.functional.jobs_api import JOBS, assert_error, claim_one, create_job, get_job

SUMMARY_FIELDS = {
    "id",
    "queue_name",
    "status",
    "priority",
    "retry_count",
    "attempt",
    "max_retries",
    "job_type",
    "last_error",
    "created_at",
    "scheduled_at",
    "started_at",
    "completed_at",
}


def _ids(response) -> list[str]:
    assert response.status == 200, response
    return [row["id"] for row in response.json]


def _create_in_order(api, clock, count: int, queue: str = "emails", **fields) -> list[str]:
    """Jobs one millisecond apart, oldest first (a fixed clock would give them equal times)."""
    ids = []
    for _ in range(count):
        ids.append(create_job(api, queue, **fields))
        clock.advance(0.001)
    return ids


# --- GET /jobs -----------------------------------------------------------------------------


def test_list_is_newest_first_with_summary_rows(api, clock):
    ids = _create_in_order(api, clock, 3, payload={"job_type": "send_email"})
    response = api.get(JOBS)
    assert _ids(response) == list(reversed(ids))
    row = response.json[0]
    assert set(row) >= SUMMARY_FIELDS
    assert row["status"] == "pending"
    assert row["retry_count"] == row["attempt"] == 0
    assert row["job_type"] == "send_email"
    assert response.headers["x-has-more"] == "false"


def test_an_empty_list_is_a_bare_array(api):
    response = api.get(JOBS)
    assert response.json == []
    assert response.headers["x-has-more"] == "false"


def test_limit_offset_and_has_more_page_through_everything_once(api, clock):
    ids = list(reversed(_create_in_order(api, clock, 7)))
    seen: list[str] = []
    offset = 0
    while True:
        response = api.get(JOBS, params={"limit": 3, "offset": offset})
        page = _ids(response)
        seen.extend(page)
        offset += 3
        if response.headers["x-has-more"] == "false":
            break
        assert len(page) == 3
    assert seen == ids
    assert _ids(api.get(JOBS, params={"limit": 3, "offset": 6})) == ids[6:]
    assert api.get(JOBS, params={"limit": 3, "offset": 3}).headers["x-has-more"] == "true"
    assert api.get(JOBS, params={"limit": 7}).headers["x-has-more"] == "false"
    assert api.get(JOBS, params={"offset": 50}).json == []


@pytest.mark.parametrize(
    ("params", "expected_count"),
    [
        ({"limit": "0"}, 1),  # clamped to 1
        ({"limit": "-4"}, 1),
        ({"limit": "1000"}, 5),  # clamped to 100
        ({"limit": "abc"}, 5),  # ignored: the default
        ({"offset": "-3"}, 5),
        ({"offset": "x"}, 5),
    ],
)
def test_invalid_paging_values_are_clamped_or_ignored(api, clock, params, expected_count):
    _create_in_order(api, clock, 5)
    assert len(_ids(api.get(JOBS, params=params))) == expected_count


def test_queue_filter_and_its_alias(api, clock):
    emails = _create_in_order(api, clock, 2, "emails")
    reports = _create_in_order(api, clock, 2, "reports")
    assert _ids(api.get(JOBS, params={"queue_name": "emails"})) == list(reversed(emails))
    assert _ids(api.get(JOBS, params={"queue": "reports"})) == list(reversed(reports))
    assert _ids(api.get(JOBS, params={"queue_name": "nothing"})) == []


def test_status_filter_takes_one_value_or_a_comma_list(api, clock):
    pending = create_job(api, "emails")
    clock.advance(0.001)
    scheduled = create_job(api, "emails", scheduled_at="2099-01-01T00:00:00Z")
    clock.advance(0.001)
    cancelled = create_job(api, "emails")
    assert api.delete(f"{JOBS}/{cancelled}").status == 204
    assert _ids(api.get(JOBS, params={"status": "pending"})) == [pending]
    assert _ids(api.get(JOBS, params={"status": "scheduled,cancelled"})) == [cancelled, scheduled]
    assert _ids(api.get(JOBS, params={"status": "completed"})) == []
    # An invalid filter value is ignored, not rejected (§2.4).
    assert len(_ids(api.get(JOBS, params={"status": "bogus"}))) == 3


def test_tag_filter_matches_object_keys_and_array_elements(api, clock):
    keyed = create_job(api, tags={"vip": True, "region": "eu"})
    clock.advance(0.001)
    listed = create_job(api, tags=["vip", "new"])
    clock.advance(0.001)
    create_job(api, tags={"other": "vip"})  # a value, not a key: no match
    clock.advance(0.001)
    create_job(api)
    assert _ids(api.get(JOBS, params={"tag": "vip"})) == [listed, keyed]
    assert _ids(api.get(JOBS, params={"tag": "region"})) == [keyed]
    assert _ids(api.get(JOBS, params={"tag": "missing"})) == []


def test_filters_combine(api, clock):
    match = create_job(api, "emails", tags=["a"])
    clock.advance(0.001)
    create_job(api, "reports", tags=["a"])
    clock.advance(0.001)
    create_job(api, "emails", tags=["b"])
    params = {"queue_name": "emails", "tag": "a", "status": "pending"}
    assert _ids(api.get(JOBS, params=params)) == [match]


# --- GET /jobs/{id} -------------------------------------------------------------------------


def test_get_returns_the_full_job_document(api, org):
    job_id = create_job(api, payload={"x": 1}, idempotency_key="k1", tags={"t": 1})
    job = get_job(api, job_id)
    for field in (
        "id", "organization_id", "queue_name", "status", "payload", "result", "retry_count", "max_retries",
        "last_error", "created_at", "scheduled_at", "started_at", "completed_at", "expires_at", "priority",
        "tags", "timeout_seconds", "parent_job_id", "completion_webhook", "assigned_worker_id", "lease_id",
        "lease_expires_at", "idempotency_key", "updated_at",
    ):  # fmt: skip
        assert field in job, field
    assert job["organization_id"] == org.id
    assert job["idempotency_key"] == "k1"
    assert "completion_webhook_secret" not in job


@pytest.mark.parametrize("job_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "x" * 300, "é"])
def test_get_unknown_job_is_404_without_echoing_the_id(api, job_id):
    body = assert_error(api.get(f"{JOBS}/{job_id}"), 404, "NOT_FOUND")
    assert job_id not in body["message"]


# --- GET /jobs/status -----------------------------------------------------------------------


def test_batch_status_returns_known_ids_and_omits_unknown_and_foreign_ones(api, other_api):
    mine = [create_job(api), create_job(api, "reports")]
    foreign = create_job(other_api)
    claim_one(api, "reports")
    ids = ",".join([*mine, foreign, "00000000-0000-0000-0000-000000000000"])
    response = api.get(f"{JOBS}/status", params={"ids": ids})
    assert response.status == 200
    rows = {row["id"]: row for row in response.json}
    assert set(rows) == set(mine)
    assert rows[mine[0]]["status"] == "pending"
    assert rows[mine[1]]["status"] == "processing"
    for row in rows.values():
        assert set(row) >= {"id", "status", "queue_name", "retry_count", "created_at", "completed_at"}


@pytest.mark.parametrize("params", [{}, {"ids": ""}, {"ids": ",,,"}])
def test_batch_status_without_ids_is_an_empty_list(api, params):
    response = api.get(f"{JOBS}/status", params=params)
    assert response.status == 200 and response.json == []


def test_batch_status_takes_at_most_100_ids(api):
    job_id = create_job(api)
    hundred = ",".join([job_id] + [f"id-{n}" for n in range(99)])
    assert [row["id"] for row in api.get(f"{JOBS}/status", params={"ids": hundred}).json] == [job_id]
    too_many = ",".join(f"id-{n}" for n in range(101))
    assert_error(api.get(f"{JOBS}/status", params={"ids": too_many}), 400)


# --- GET /jobs/stats ------------------------------------------------------------------------


STATS_FIELDS = {
    "pending",
    "scheduled",
    "processing",
    "completed",
    "failed",
    "deadletter",
    "cancelled",
    "total",
}


def test_stats_count_jobs_by_status_once_the_stream_is_drained(api, clock, drain_stream):
    zero = api.get(f"{JOBS}/stats")
    assert zero.status == 200
    assert zero.json == dict.fromkeys(STATS_FIELDS, 0)
    for _ in range(3):
        create_job(api, "emails")
    create_job(api, "reports", scheduled_at="2099-01-01T00:00:00Z")
    cancelled = create_job(api, "reports")
    api.delete(f"{JOBS}/{cancelled}")
    done = claim_one(api, "emails")
    api.post(f"{JOBS}/{done['id']}/complete", {"worker_id": "worker-1", "lease_id": done["lease_id"]})
    claim_one(api, "emails")
    drain_stream()
    stats = api.get(f"{JOBS}/stats").json
    assert stats == {
        "pending": 1,
        "scheduled": 1,
        "processing": 1,
        "completed": 1,
        "failed": 0,
        "deadletter": 0,
        "cancelled": 1,
        "total": 5,
    }
    per_queue = api.get(f"{JOBS}/stats", params={"queue_name": "reports"}).json
    assert per_queue == {**dict.fromkeys(STATS_FIELDS, 0), "scheduled": 1, "cancelled": 1, "total": 2}
    assert api.get(f"{JOBS}/stats", params={"queue": "emails"}).json["total"] == 3
    assert api.get(f"{JOBS}/stats", params={"queue_name": "unknown"}).json == dict.fromkeys(STATS_FIELDS, 0)


def test_stats_of_one_organization_do_not_include_another(api, other_api, drain_stream):
    create_job(other_api)
    create_job(other_api)
    create_job(api)
    drain_stream()
    assert api.get(f"{JOBS}/stats").json["total"] == 1
    assert other_api.get(f"{JOBS}/stats").json["pending"] == 2


# --- GET /jobs/{id}/history -----------------------------------------------------------------


def test_history_of_a_job_retried_by_hand_again_and_again_stays_bounded(api, clock):
    # 40 rounds of claim, fail into the DLQ and retry by hand write 120 entries; the item keeps the
    # last 64 (shared/jobs/expressions/lifecycle.HISTORY_LIMIT), newest last, and stays small.
    from shared.jobs.expressions.lifecycle import HISTORY_LIMIT

    job_id = create_job(api, max_retries=0)
    for n in range(40):
        clock.advance(1)
        leased = claim_one(api, worker=f"w-{n}")
        body = {"worker_id": f"w-{n}", "lease_id": leased["lease_id"], "error": f"attempt {n}"}
        failed = api.post(f"{JOBS}/{job_id}/fail", body)
        assert failed.status == 200, failed
        assert api.post(f"{JOBS}/{job_id}/retry", {}).status == 200
    events = api.get(f"{JOBS}/{job_id}/history", params={"limit": "500"}).json
    assert len(events) == HISTORY_LIMIT + 1  # the kept entries and "created", read off created_at
    assert [e["event_type"] for e in events[:1] + events[-3:]] == [
        "created",
        "processing",
        "deadlettered",
        "retried",
    ]
    assert events[-3]["worker_id"] == "w-39"
    assert get_job(api, job_id)["status"] == "pending"


def test_history_records_each_transition_in_order(api, clock, monkeypatch):
    from tests.functional import timers_harness

    timers = timers_harness.install(monkeypatch, clock)  # the backoff's timer makes the retry claimable
    job_id = create_job(api, max_retries=1)
    clock.advance(1)
    first = claim_one(api, worker="w-a")
    api.post(f"{JOBS}/{job_id}/fail", {"worker_id": "w-a", "lease_id": first["lease_id"], "error": "flaky"})
    timers.run_for(5)
    second = claim_one(api, worker="w-b")
    api.post(f"{JOBS}/{job_id}/complete", {"worker_id": "w-b", "lease_id": second["lease_id"], "result": 1})
    response = api.get(f"{JOBS}/{job_id}/history")
    assert response.status == 200
    assert response.headers["x-has-more"] == "false"
    events = response.json
    assert [e["event_type"] for e in events] == [
        "created",
        "processing",
        "retry_scheduled",
        "processing",
        "completed",
    ]
    assert [e["worker_id"] for e in events] == [None, "w-a", "w-a", "w-b", "w-b"]
    assert all(e["job_id"] == job_id for e in events)
    assert len({e["id"] for e in events}) == len(events)
    assert events[1]["details"]["lease_id"] == first["lease_id"]
    assert events[2]["details"]["error"] == "flaky"
    assert events[2]["details"]["retry_count"] == 1
    for event in events:
        assert "organization_id" in event["details"]
        assert event["created_at"].endswith("Z")
    assert events[0]["created_at"] < events[1]["created_at"] < events[3]["created_at"]


def test_history_pages_and_orders(api, clock):
    job_id = create_job(api)
    clock.advance(1)
    leased = claim_one(api)
    api.post(f"{JOBS}/{job_id}/complete", {"worker_id": "worker-1", "lease_id": leased["lease_id"]})
    page = api.get(f"{JOBS}/{job_id}/history", params={"limit": 2})
    assert [e["event_type"] for e in page.json] == ["created", "processing"]
    assert page.headers["x-has-more"] == "true"
    rest = api.get(f"{JOBS}/{job_id}/history", params={"limit": 2, "offset": 2})
    assert [e["event_type"] for e in rest.json] == ["completed"]
    assert rest.headers["x-has-more"] == "false"
    newest_first = api.get(f"{JOBS}/{job_id}/history", params={"order_dir": "desc"})
    assert [e["event_type"] for e in newest_first.json] == ["completed", "processing", "created"]


def test_history_of_an_unknown_job_is_404(api):
    assert_error(api.get(f"{JOBS}/nope/history"), 404, "NOT_FOUND")


# --- the job partitions (docs/architecture.md, "The job's key") ----------------------------


def test_jobs_stay_found_and_listed_when_the_job_shard_count_is_raised(api, clock, monkeypatch):
    from tests.conftest import reset_process_caches

    def shards(count: int) -> None:
        monkeypatch.setenv("SPOOLED_JOB_SHARDS", str(count))
        reset_process_caches(clients=False)

    shards(2)
    before = _create_in_order(api, clock, 10)
    assert {int(job_id[21:23], 16) for job_id in before} <= {0, 1}  # the shard is in the id
    shards(8)
    after = _create_in_order(api, clock, 20, queue="reports")
    assert {int(job_id[21:23], 16) for job_id in after} - {0, 1}  # new jobs use the new shards
    for job_id in before + after:
        assert get_job(api, job_id)["id"] == job_id
    # Read-after-write (consistent queries), newest first across every shard, the queue filter too.
    assert _ids(api.get(JOBS, params={"limit": 100})) == list(reversed(before + after))
    assert _ids(api.get(JOBS, params={"queue": "emails", "limit": 100})) == list(reversed(before))
    assert _ids(api.get(JOBS, params={"limit": 5, "offset": 18})) == list(reversed(before + after))[18:23]
