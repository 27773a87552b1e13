"""Lease expiry and timeout_seconds, on the tests' clock, by timer messages alone (no sweep)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs.backoff import DEFAULT_BACKOFF
from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

QUEUE = "leases"
# A job back in pending after a lease ends waits out one backoff step before it is claimable.
FIRST_BACKOFF_MAX_MS = int(DEFAULT_BACKOFF.base_seconds * 1000) + DEFAULT_BACKOFF.jitter_ms


@pytest.fixture
def timers(api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Timers:
    return h.install(monkeypatch, clock)


def _ack(api: Any, job: dict[str, Any], action: str, worker: str = "worker-1", **body: Any) -> Any:
    return api.post(
        f"/api/v1/jobs/{job['id']}/{action}", {"worker_id": worker, "lease_id": job["lease_id"], **body}
    )


def test_an_abandoned_lease_returns_the_job_to_pending(api: Any, clock: Any, timers: Timers) -> None:
    job_id = h.create(api, queue_name=QUEUE)
    (job,) = h.claim(api, QUEUE, lease=30)
    lease_end = h.ms(job["lease_expires_at"])
    timers.run_until(lease_end - 600)
    assert h.job(api, job_id)["status"] == "processing"

    timers.run_until(lease_end + 1_000)
    document = h.job(api, job_id)
    assert document["status"] == "pending"
    assert document["retry_count"] == 1
    assert document["last_error"] == "Lease expired (worker timeout)"
    # within a second of the lease end
    assert 0 <= h.last_event_ms(api, job_id, "retry_scheduled") - lease_end <= 1_000

    # The old worker comes back too late: 409, and nothing changes.
    before = h.job(api, job_id)
    late = _ack(api, job, "complete", result={"too": "late"})
    assert late.status == 409 and late.json["code"] == "LEASE_EXPIRED"
    assert _ack(api, job, "fail", error="late").status == 409
    assert _ack(api, job, "heartbeat", lease_duration_secs=30).status == 409
    assert h.job(api, job_id) == before

    # After its backoff, another worker gets it.
    timers.run_for(FIRST_BACKOFF_MAX_MS / 1000 + 1)
    (again,) = h.claim(api, QUEUE, worker="worker-2")
    assert again["id"] == job_id and again["retry_count"] == 1
    assert _ack(api, again, "complete", worker="worker-2", result=1).status == 200


def test_the_last_expiry_dead_letters(api: Any, clock: Any, timers: Timers) -> None:
    job_id = h.create(api, queue_name=QUEUE, max_retries=1)
    for attempt in range(2):
        timers.run_for(FIRST_BACKOFF_MAX_MS * 2 / 1000)
        (job,) = h.claim(api, QUEUE, lease=10)
        assert job["retry_count"] == attempt
        timers.run_until(h.ms(job["lease_expires_at"]) + 1_000)
    document = h.job(api, job_id)
    assert document["status"] == "deadletter"
    assert document["last_error"] == "Max retries exceeded after lease expiration"
    assert [row["id"] for row in api.get("/api/v1/jobs/dlq").json] == [job_id]


def test_heartbeats_keep_the_lease_and_the_timer_follows_it(api: Any, clock: Any, timers: Timers) -> None:
    job_id = h.create(api, queue_name=QUEUE)
    (job,) = h.claim(api, QUEUE, lease=20)
    for _ in range(6):  # two minutes of heartbeats every 10 s, each extending the lease to +20 s
        timers.run_for(10)
        assert _ack(api, job, "heartbeat", lease_duration_secs=20).status == 200
        assert h.job(api, job_id)["status"] == "processing"
    last_lease_end = h.ms(h.job(api, job_id)["lease_expires_at"])
    timers.run_until(last_lease_end - 600)
    assert h.job(api, job_id)["status"] == "processing"
    timers.run_until(last_lease_end + 1_000)
    document = h.job(api, job_id)
    assert document["status"] == "pending" and document["retry_count"] == 1
    assert 0 <= h.last_event_ms(api, job_id, "retry_scheduled") - last_lease_end <= 1_000


def test_a_job_past_its_timeout_is_treated_like_an_expired_lease(
    api: Any, clock: Any, timers: Timers
) -> None:
    job_id = h.create(api, queue_name=QUEUE, timeout_seconds=25)
    (job,) = h.claim(api, QUEUE, lease=60)
    started = h.ms(h.job(api, job_id)["started_at"])
    deadline = started + 25_000
    assert h.ms(job["lease_expires_at"]) == deadline  # the lease never outlasts the timeout

    timers.run_for(10)
    assert _ack(api, job, "heartbeat", lease_duration_secs=60).status == 200
    assert h.ms(h.job(api, job_id)["lease_expires_at"]) == deadline  # extended only to the deadline
    timers.run_for(10)
    assert _ack(api, job, "heartbeat", lease_duration_secs=5).status == 200  # shorter: allowed
    assert h.ms(h.job(api, job_id)["lease_expires_at"]) == clock.now_ms() + 5_000
    assert _ack(api, job, "heartbeat", lease_duration_secs=30).status == 200
    assert h.ms(h.job(api, job_id)["lease_expires_at"]) == deadline

    timers.run_until(deadline + 1_000)
    document = h.job(api, job_id)
    assert document["status"] == "pending" and document["retry_count"] == 1
    assert document["last_error"] == "Job exceeded its timeout_seconds (25 s)"
    assert _ack(api, job, "heartbeat", lease_duration_secs=30).json["code"] == "LEASE_EXPIRED"
    assert _ack(api, job, "complete").status == 409


def test_a_timeout_on_the_last_attempt_dead_letters_with_its_reason(
    api: Any, clock: Any, timers: Timers
) -> None:
    job_id = h.create(api, queue_name=QUEUE, timeout_seconds=5, max_retries=0)
    (job,) = h.claim(api, QUEUE, lease=300)
    timers.run_until(h.ms(job["lease_expires_at"]) + 1_000)
    document = h.job(api, job_id)
    assert document["status"] == "deadletter"
    assert document["last_error"] == "Max retries exceeded after job timeout (5 s)"


def test_completing_before_the_lease_ends_leaves_nothing_to_fire(
    api: Any, clock: Any, timers: Timers
) -> None:
    job_id = h.create(api, queue_name=QUEUE)
    (job,) = h.claim(api, QUEUE, lease=30)
    timers.run_for(5)
    assert _ack(api, job, "complete", result={"ok": True}).status == 200
    timers.run_for(120)
    assert h.job(api, job_id)["status"] == "completed"
    assert timers.sender.pending == []


def test_a_claim_batch_arms_one_message(api: Any, clock: Any, timers: Timers) -> None:
    ids = {h.create(api, queue_name=QUEUE) for _ in range(25)}
    timers.settle()
    jobs = h.claim(api, QUEUE, lease=30, limit=25)
    assert {job["id"] for job in jobs} == ids
    timers.settle()
    armed = [message for _, message in timers.sender.pending]
    assert len(armed) == 1  # the batch's leases end in the same second
    timers.run_for(31)
    assert {h.job(api, job_id)["status"] for job_id in ids} == {"pending"}


def test_one_check_of_a_claim_batch_reads_its_jobs_together_and_recovers_only_the_abandoned(
    api: Any, clock: Any, timers: Timers
) -> None:
    """Six leases of one claim share a check; when it comes due the jobs are read in one batch
    read, and only the two nobody completed or extended go back to pending."""
    from shared.plumbing import aws_clients

    ids = [h.create(api, queue_name=QUEUE) for _ in range(6)]
    timers.settle()
    jobs = {job["id"]: job for job in h.claim(api, QUEUE, lease=30, limit=6)}
    assert set(jobs) == set(ids)
    done, extended, abandoned = ids[:2], ids[2:4], ids[4:]
    for job_id in done:
        assert _ack(api, jobs[job_id], "complete", result=1).status == 200
    for job_id in extended:
        assert _ack(api, jobs[job_id], "heartbeat", lease_duration_secs=60).status == 200
    timers.settle()
    calls: list[str] = []

    def count(params: Any, model: Any, **kwargs: Any) -> None:
        calls.append(model.name)

    db = aws_clients.client("dynamodb")
    db.meta.events.register("before-parameter-build.dynamodb.*", count)
    try:
        timers.run_for(31)
    finally:
        db.meta.events.unregister("before-parameter-build.dynamodb.*", count)
    assert {job_id: h.job(api, job_id)["status"] for job_id in ids} == {
        **dict.fromkeys(done, "completed"),
        **dict.fromkeys(extended, "processing"),
        **dict.fromkeys(abandoned, "pending"),
    }
    # The check's reads, before its first recovery write (the rest is the stream's work after).
    assert calls[: calls.index("UpdateItem")] == ["BatchGetItem"]
