"""The worker protocol (contract §2.4, §3.2-§3.4): claim, complete, fail, heartbeat, and the
lease fencing that keeps a late worker from changing a job it no longer holds."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.functional.jobs_api import (
    JOBS,
    assert_error,
    claim,
    claim_one,
    create_job,
    detail_codes,
    get_job,
)

W = "worker-1"


def _ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


def _complete(api, job_id, worker=W, lease_id=None, **extra):
    body = {"worker_id": worker, **extra}
    if lease_id is not None:
        body["lease_id"] = lease_id
    return api.post(f"{JOBS}/{job_id}/complete", body)


def _fail(api, job_id, worker=W, lease_id=None, error="boom"):
    body = {"worker_id": worker, "error": error}
    if lease_id is not None:
        body["lease_id"] = lease_id
    return api.post(f"{JOBS}/{job_id}/fail", body)


def _heartbeat(api, job_id, worker=W, lease_id=None, lease=30):
    body = {"worker_id": worker, "lease_duration_secs": lease}
    if lease_id is not None:
        body["lease_id"] = lease_id
    return api.post(f"{JOBS}/{job_id}/heartbeat", body)


def _snapshot(api, job_id):
    job = get_job(api, job_id)
    return {
        k: job[k] for k in ("status", "lease_id", "lease_expires_at", "result", "retry_count", "last_error")
    }


# --- claim ------------------------------------------------------------------------------------


def test_claim_hands_out_the_job_with_a_lease(api, clock):
    job_id = create_job(api, payload={"task": 1}, max_retries=4, timeout_seconds=120)
    now = clock.now_ms()
    leased = claim_one(api, lease=45)
    assert leased["id"] == job_id
    assert leased["queue_name"] == "emails"
    assert leased["payload"] == {"task": 1}
    assert (leased["retry_count"], leased["max_retries"], leased["timeout_seconds"]) == (0, 4, 120)
    assert leased["lease_id"]
    assert _ms(leased["lease_expires_at"]) == now + 45_000
    job = get_job(api, job_id)
    assert job["status"] == "processing"
    assert job["assigned_worker_id"] == W
    assert job["lease_id"] == leased["lease_id"]
    assert _ms(job["started_at"]) == now


def test_claim_defaults_to_one_job_and_a_30_second_lease(api, clock):
    create_job(api)
    create_job(api)
    response = api.post(f"{JOBS}/claim", {"queue_name": "emails", "worker_id": W})
    assert response.status == 200
    jobs = response.json["jobs"]
    assert len(jobs) == 1
    assert _ms(jobs[0]["lease_expires_at"]) == clock.now_ms() + 30_000


def test_claim_on_an_empty_or_unknown_queue_is_an_empty_list(api):
    assert claim(api, "nobody-here") == []


def test_claim_order_is_priority_first_then_oldest_first(api, clock):
    created = {}
    for name, priority in [
        ("low-1", -5),
        ("mid-1", 0),
        ("high-1", 10),
        ("mid-2", 0),
        ("high-2", 10),
        ("low-2", -5),
    ]:
        created[name] = create_job(api, priority=priority)
        clock.advance(0.001)
    order = [claim_one(api)["id"] for _ in range(6)]
    assert order == [created[n] for n in ("high-1", "high-2", "mid-1", "mid-2", "low-1", "low-2")]
    assert claim(api) == []


def test_claim_limit_takes_the_head_of_the_queue_in_order(api, clock):
    ids = []
    for priority in (1, 3, 2, 5, 4):
        ids.append(create_job(api, priority=priority))
        clock.advance(0.001)
    first = claim(api, limit=3)
    assert [j["id"] for j in first] == [ids[3], ids[4], ids[1]]
    assert len({j["lease_id"] for j in first}) == 3
    rest = claim(api, limit=100)
    assert [j["id"] for j in rest] == [ids[2], ids[0]]


def test_a_claim_spends_no_write_on_a_job_it_just_took_that_a_lagging_index_still_lists(
    api, clock, monkeypatch
):
    # The ready index is eventually consistent: right after a claim it may still list the jobs
    # taken. Their conditional writes could only fail (each billed as a write on AWS).
    from functions.api import routes_jobs

    store = routes_jobs.service().store
    real_candidates = store._ready_candidates
    seen: list[dict] = []

    def lagging(org_id, queue, shards, fetch):
        fresh = real_candidates(org_id, queue, shards, fetch)
        stale = [entry for entry in seen if entry not in fresh]
        seen.extend(entry for entry in fresh if entry not in seen)
        return stale + fresh

    monkeypatch.setattr(store, "_ready_candidates", lagging)
    first = create_job(api)
    clock.advance(0.001)
    second = create_job(api)
    assert claim_one(api)["id"] == first
    writes_failed = store.stats.conditional_failures
    assert claim_one(api)["id"] == second  # the stale entry of the first job is listed first
    assert store.stats.conditional_failures == writes_failed
    # Once the memory is over (it never outlasts the lease), such an entry costs a write again.
    clock.advance(2)
    assert claim(api) == []
    assert store.stats.conditional_failures > writes_failed


def test_claims_through_one_store_at_once_do_not_race_for_the_same_job(api, clock, monkeypatch):
    # make dev's gateway serves every worker's claim through one store, on many threads: both
    # claims read the same head, and the second must not spend a write on the job the first is
    # claiming (that write could only fail) but take the next one.
    from functions.api import routes_jobs

    store = routes_jobs.service().store
    first = create_job(api)
    clock.advance(0.001)
    second = create_job(api)
    real_claim, real_call = store.claim, store._call
    orgs: list[str] = []
    nested: list[list] = []
    started: list[bool] = []

    def claim_spy(org_id, *args, **kwargs):
        orgs.append(org_id)
        return real_claim(org_id, *args, **kwargs)

    def call(operation, **kwargs):
        if operation == "update_item" and orgs and not started:
            started.append(True)
            nested.append(real_claim(orgs[0], "emails", "worker-2", 1, 30))  # while ours is in flight
        return real_call(operation, **kwargs)

    monkeypatch.setattr(store, "claim", claim_spy)
    monkeypatch.setattr(store, "_call", call)
    failures = store.stats.conditional_failures
    assert claim_one(api)["id"] == first
    assert [job.id for job in nested[0]] == [second]
    assert store.stats.conditional_failures == failures


def test_a_sharded_queue_is_claimed_from_with_a_spread_from_the_first_claim(api, clock, monkeypatch):
    # A fleet of new containers on a queue spread over ready shards would otherwise all try the
    # same head first (claim_policy.initial_spread).
    from shared.jobs import claim_policy

    spreads: list[float] = []
    real_order = claim_policy.claim_order

    def order(candidates, want, spread, rng):
        spreads.append(spread)
        return real_order(candidates, want, spread, rng)

    monkeypatch.setattr(claim_policy, "claim_order", order)
    assert api.put("/api/v1/queues/sharded/config", {"settings": {"ready_shards": 2}}).status == 200
    for _ in range(3):
        create_job(api, "sharded")
        create_job(api, "emails")
        clock.advance(0.001)
    claim(api, "emails")
    claim(api, "sharded")
    claim(api, "sharded")
    assert spreads[0] == 1.0  # an unsharded queue: strict order
    assert spreads[1] == claim_policy.GROWTH
    assert spreads[2] == pytest.approx(claim_policy.GROWTH * claim_policy.DECAY)  # no race lost


def test_claim_only_sees_its_own_queue_and_organization(api, other_api):
    create_job(api, "emails")
    create_job(other_api, "reports")
    assert claim(api, "reports") == []
    assert claim(other_api, "emails") == []
    assert len(claim(api, "emails")) == 1


def test_an_expired_job_is_never_handed_out(api, clock):
    job_id = create_job(
        api, expires_at=datetime.fromtimestamp((clock.now_ms() + 10_000) / 1000).astimezone().isoformat()
    )
    clock.advance(11)
    assert claim(api) == []
    assert get_job(api, job_id)["status"] != "processing"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"queue_name": "emails", "worker_id": W, "limit": 0}, 400),
        ({"queue_name": "emails", "worker_id": W, "limit": 101}, 400),
        ({"queue_name": "emails", "worker_id": ""}, 400),
        ({"queue_name": "emails", "worker_id": "w" * 256}, 400),
        ({"queue_name": "bad queue", "worker_id": W}, 400),
        ({"queue_name": "emails", "worker_id": W, "limit": "2"}, 422),
        ({"queue_name": "emails"}, 422),
        ({"worker_id": W}, 422),
    ],
)
def test_claim_validation_claims_nothing(api, body, status):
    job_id = create_job(api)
    assert_error(api.post(f"{JOBS}/claim", body), status, "VALIDATION_ERROR")
    assert get_job(api, job_id)["status"] == "pending"


@pytest.mark.parametrize(("asked", "granted"), [(1, 5), (4, 5), (5, 5), (3600, 3600), (7200, 3600)])
def test_claim_and_heartbeat_clamp_the_lease_to_5_to_3600_seconds(api, clock, asked, granted):
    job_id = create_job(api, timeout_seconds=86_400)
    [leased] = claim(api, lease=asked)
    assert _ms(leased["lease_expires_at"]) == clock.now_ms() + granted * 1000
    body = {"worker_id": W, "lease_id": leased["lease_id"], "lease_duration_secs": asked}
    assert api.post(f"{JOBS}/{job_id}/heartbeat", body).status == 200
    assert _ms(get_job(api, job_id)["lease_expires_at"]) == clock.now_ms() + granted * 1000


# --- complete ---------------------------------------------------------------------------------


def test_complete_stores_the_result(api, clock):
    job_id = create_job(api)
    leased = claim_one(api)
    clock.advance(2)
    response = _complete(api, job_id, lease_id=leased["lease_id"], result={"sent": True, "ids": [1, 2]})
    assert response.status == 200
    assert response.json == {"success": True}
    job = get_job(api, job_id)
    assert job["status"] == "completed"
    assert job["result"] == {"sent": True, "ids": [1, 2]}
    assert _ms(job["completed_at"]) == clock.now_ms()
    assert job["lease_expires_at"] is None


def test_complete_without_a_result_leaves_it_null(api):
    job_id = create_job(api)
    leased = claim_one(api)
    assert _complete(api, job_id, lease_id=leased["lease_id"]).status == 200
    assert get_job(api, job_id)["result"] is None


def test_a_large_result_round_trips_through_s3(api):
    job_id = create_job(api)
    leased = claim_one(api)
    result = {"rows": ["é" * 1000] * 400}  # ~800 KB of UTF-8, above the inline limit
    assert _complete(api, job_id, lease_id=leased["lease_id"], result=result).status == 200
    assert get_job(api, job_id)["result"] == result


def test_a_result_over_1_mib_is_413_and_the_job_stays_leased(api):
    job_id = create_job(api)
    leased = claim_one(api)
    response = _complete(api, job_id, lease_id=leased["lease_id"], result="x" * (1024 * 1024))
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert get_job(api, job_id)["status"] == "processing"


def test_a_replayed_complete_is_409_and_changes_nothing(api):
    job_id = create_job(api)
    leased = claim_one(api)
    assert _complete(api, job_id, lease_id=leased["lease_id"], result=1).status == 200
    before = _snapshot(api, job_id)
    assert_error(_complete(api, job_id, lease_id=leased["lease_id"], result=2), 409, "LEASE_EXPIRED")
    assert _snapshot(api, job_id) == before


# --- fencing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["complete", "fail", "heartbeat"])
def test_a_stale_lease_id_is_409_lease_expired_and_changes_nothing(api, call):
    job_id = create_job(api)
    claim_one(api)
    before = _snapshot(api, job_id)
    stale = {"complete": _complete, "fail": _fail, "heartbeat": _heartbeat}[call]
    assert_error(stale(api, job_id, lease_id="some-older-lease"), 409, "LEASE_EXPIRED")
    assert _snapshot(api, job_id) == before


@pytest.mark.parametrize("call", ["complete", "fail", "heartbeat"])
def test_after_the_lease_ends_the_holder_gets_409_and_nothing_changes(api, clock, call):
    job_id = create_job(api)
    leased = claim_one(api, lease=30)
    clock.advance(30)  # lease_expires_at == now: expired
    before = _snapshot(api, job_id)
    late = {"complete": _complete, "fail": _fail, "heartbeat": _heartbeat}[call]
    assert_error(late(api, job_id, lease_id=leased["lease_id"]), 409, "LEASE_EXPIRED")
    assert _snapshot(api, job_id) == before


def test_a_late_complete_after_another_worker_took_the_job_is_refused(api, clock, monkeypatch):
    from tests.functional import timers_harness

    timers = timers_harness.install(monkeypatch, clock)
    job_id = create_job(api, max_retries=3)
    old = claim_one(api, worker="w-old", lease=10)
    timers.run_for(10.5)  # the lease check recovers the expired lease into a retry backoff
    assert claim(api, worker="w-new") == []
    recovered = get_job(api, job_id)
    assert recovered["status"] == "pending"
    assert recovered["retry_count"] == 1
    assert recovered["last_error"]
    assert_error(_complete(api, job_id, "w-old", old["lease_id"]), 409, "LEASE_EXPIRED")
    timers.run_for(2)  # the backoff's timer makes it claimable again
    new = claim_one(api, worker="w-new")
    assert new["id"] == job_id and new["lease_id"] != old["lease_id"]
    assert_error(_complete(api, job_id, "w-old", old["lease_id"]), 404, "NOT_FOUND")
    assert_error(_complete(api, job_id, "w-old"), 404, "NOT_FOUND")
    assert get_job(api, job_id)["lease_id"] == new["lease_id"]
    assert _complete(api, job_id, "w-new", new["lease_id"]).status == 200


def test_missing_lease_id_is_accepted_from_the_holder_of_a_live_lease(api):
    job_id = create_job(api)
    claim_one(api)
    assert _heartbeat(api, job_id).status == 200
    assert _complete(api, job_id, result="legacy").status == 200
    assert get_job(api, job_id)["result"] == "legacy"


def test_missing_lease_id_after_the_lease_ended_is_409(api, clock):
    job_id = create_job(api)
    claim_one(api, lease=5)
    clock.advance(6)
    assert_error(_complete(api, job_id), 409, "LEASE_EXPIRED")
    assert_error(_fail(api, job_id), 409, "LEASE_EXPIRED")
    assert get_job(api, job_id)["status"] == "processing"


@pytest.mark.parametrize("with_lease_id", [True, False])
@pytest.mark.parametrize("call", ["complete", "fail", "heartbeat"])
def test_another_worker_gets_404(api, call, with_lease_id):
    job_id = create_job(api)
    leased = claim_one(api, worker="the-holder")
    before = _snapshot(api, job_id)
    other = {"complete": _complete, "fail": _fail, "heartbeat": _heartbeat}[call]
    lease_id = leased["lease_id"] if with_lease_id else None
    assert_error(other(api, job_id, "someone-else", lease_id), 404, "NOT_FOUND")
    assert _snapshot(api, job_id) == before


@pytest.mark.parametrize("call", ["complete", "fail", "heartbeat"])
def test_worker_calls_on_a_job_that_was_never_claimed_are_404(api, call):
    job_id = create_job(api)
    other = {"complete": _complete, "fail": _fail, "heartbeat": _heartbeat}[call]
    assert_error(other(api, job_id), 404, "NOT_FOUND")
    assert_error(other(api, "00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND")
    assert get_job(api, job_id)["status"] == "pending"


# --- heartbeat --------------------------------------------------------------------------------


def test_heartbeat_extends_the_lease_from_now(api, clock):
    job_id = create_job(api)
    leased = claim_one(api, lease=10)
    clock.advance(8)
    response = _heartbeat(api, job_id, lease_id=leased["lease_id"], lease=20)
    assert response.status == 200
    assert response.json == {"success": True}
    assert _ms(get_job(api, job_id)["lease_expires_at"]) == clock.now_ms() + 20_000
    clock.advance(15)  # past the first lease, inside the extended one
    assert claim(api, worker="intruder") == []
    assert _complete(api, job_id, lease_id=leased["lease_id"]).status == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"worker_id": W, "lease_duration_secs": "30"}, 422),
        ({"lease_duration_secs": 30}, 422),
    ],
)
def test_heartbeat_validation(api, body, status):
    job_id = create_job(api)
    claim_one(api)
    assert_error(api.post(f"{JOBS}/{job_id}/heartbeat", body), status, "VALIDATION_ERROR")


# --- fail, retries and the dead-letter queue ------------------------------------------------


def test_fail_with_retries_left_goes_back_to_pending_after_a_backoff(api, clock, monkeypatch):
    from tests.functional import timers_harness

    timers = timers_harness.install(monkeypatch, clock)  # the backoff's timer promotes it
    job_id = create_job(api, max_retries=3)
    leased = claim_one(api)
    failed_at = clock.now_ms()
    response = _fail(api, job_id, lease_id=leased["lease_id"], error="smtp down")
    assert response.status == 200
    assert response.json["success"] is True
    job = get_job(api, job_id)
    assert job["status"] == "pending"
    assert job["retry_count"] == 1
    assert job["last_error"] == "smtp down"
    assert job["lease_id"] is None
    due = _ms(job["scheduled_at"])
    assert failed_at + 1_000 <= due < failed_at + 1_500  # 1 s for the first retry, plus < 500 ms jitter
    timers.run_until(due - 800)  # before its wake (which arrives at most 0.75 s early, held until due)
    assert claim(api) == []
    timers.run_until(due)
    assert clock.now_ms() >= due
    again = claim_one(api)
    assert again["id"] == job_id
    assert again["retry_count"] == 1
    assert again["lease_id"] != leased["lease_id"]


def test_backoff_doubles_with_each_retry(api, clock, monkeypatch):
    from tests.functional import timers_harness

    timers = timers_harness.install(monkeypatch, clock)
    job_id = create_job(api, max_retries=5)
    waits = []
    for _ in range(4):
        leased = claim_one(api)
        failed_at = clock.now_ms()
        _fail(api, job_id, lease_id=leased["lease_id"])
        due = _ms(get_job(api, job_id)["scheduled_at"])
        waits.append(due - failed_at)
        timers.run_until(due)
    for n, wait in enumerate(waits):
        assert 1000 * 2**n <= wait < 1000 * 2**n + 500, waits


def test_fail_when_retries_are_used_up_dead_letters(api, clock, monkeypatch):
    from tests.functional import timers_harness

    timers = timers_harness.install(monkeypatch, clock)
    job_id = create_job(api, max_retries=2)
    for attempt in range(3):
        leased = claim_one(api)
        assert leased["retry_count"] == attempt
        assert _fail(api, job_id, lease_id=leased["lease_id"], error=f"attempt {attempt}").status == 200
        timers.run_for(10)
    job = get_job(api, job_id)
    assert job["status"] == "deadletter"
    assert job["retry_count"] == 2
    assert job["last_error"] == "attempt 2"
    assert job["lease_id"] is None and job["lease_expires_at"] is None
    assert claim(api) == []
    assert [row["id"] for row in api.get(f"{JOBS}/dlq").json] == [job_id]


def test_max_retries_zero_dead_letters_on_the_first_failure(api):
    job_id = create_job(api, max_retries=0)
    leased = claim_one(api)
    assert _fail(api, job_id, lease_id=leased["lease_id"]).status == 200
    job = get_job(api, job_id)
    assert (job["status"], job["retry_count"]) == ("deadletter", 0)


def test_a_replayed_fail_is_refused_and_counts_once(api):
    job_id = create_job(api, max_retries=3)
    leased = claim_one(api)
    assert _fail(api, job_id, lease_id=leased["lease_id"]).status == 200
    assert_error(_fail(api, job_id, lease_id=leased["lease_id"]), 409, "LEASE_EXPIRED")
    assert get_job(api, job_id)["retry_count"] == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"worker_id": W, "error": ""}, 400, None),
        ({"worker_id": W, "error": "e" * 2049}, 400, None),
        ({"worker_id": W}, 422, "missing_field"),
        ({"worker_id": W, "error": 5}, 422, "invalid_type"),
    ],
)
def test_fail_validation_changes_nothing(api, body, status, code):
    job_id = create_job(api)
    claim_one(api)
    response = api.post(f"{JOBS}/{job_id}/fail", body)
    assert_error(response, status, "VALIDATION_ERROR")
    if code:
        assert code in detail_codes(response)
    assert get_job(api, job_id)["status"] == "processing"


def test_an_error_of_2048_characters_is_kept_whole(api):
    job_id = create_job(api, max_retries=0)
    leased = claim_one(api)
    assert _fail(api, job_id, lease_id=leased["lease_id"], error="e" * 2048).status == 200
    assert get_job(api, job_id)["last_error"] == "e" * 2048
