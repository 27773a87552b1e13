"""expires_at: a job not started by then is never handed out and ends cancelled, on its own timer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

QUEUE = "expiring"
EXPIRED = "Expired before it was started (expires_at passed)"


@pytest.fixture
def timers(api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Timers:
    return h.install(monkeypatch, clock)


def _assert_expired_at(api: Any, job_id: str, expires_ms: int) -> None:
    document = h.job(api, job_id)
    assert document["status"] == "cancelled"
    assert document["last_error"] == EXPIRED
    assert 0 <= h.ms(document["completed_at"]) - expires_ms <= 1_000
    assert "expired" in h.history_types(api, job_id)


def test_a_pending_job_nobody_claims_expires_on_time(api: Any, clock: Any, timers: Timers) -> None:
    expires = clock.now_ms() + 45_000
    job_id = h.create(api, queue_name=QUEUE, expires_at=h.iso(expires))
    timers.run_until(expires - 600)
    assert h.job(api, job_id)["status"] == "pending"
    timers.run_until(expires + 1_000)
    _assert_expired_at(api, job_id, expires)
    assert h.claim(api, QUEUE) == []


def test_a_claim_at_the_expiry_second_gets_nothing(api: Any, clock: Any, timers: Timers) -> None:
    expires = clock.now_ms() + 10_000
    job_id = h.create(api, queue_name=QUEUE, expires_at=h.iso(expires))
    timers.settle()
    clock.advance(10)  # exactly expires_at, before any timer fired
    assert h.claim(api, QUEUE) == []
    assert h.job(api, job_id)["status"] == "cancelled"


def test_a_delayed_job_that_expires_first_is_never_pending(api: Any, clock: Any, timers: Timers) -> None:
    expires, due = clock.now_ms() + 3_600_000, clock.now_ms() + 7_200_000
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due), expires_at=h.iso(expires))
    timers.run_until(due + 1_000)
    _assert_expired_at(api, job_id, expires)
    assert h.history_types(api, job_id) == ["created", "expired"]
    assert timers.sender.pending == []


def test_a_delayed_job_is_claimable_between_its_due_time_and_its_expiry(
    api: Any, clock: Any, timers: Timers
) -> None:
    due, expires = clock.now_ms() + 20_000, clock.now_ms() + 50_000
    job_id = h.create(api, queue_name=QUEUE, scheduled_at=h.iso(due), expires_at=h.iso(expires))
    timers.run_until(due + 1_000)
    assert h.job(api, job_id)["status"] == "pending"
    timers.run_until(expires + 1_000)
    _assert_expired_at(api, job_id, expires)


def test_a_started_job_is_not_expired(api: Any, clock: Any, timers: Timers) -> None:
    expires = clock.now_ms() + 20_000
    job_id = h.create(api, queue_name=QUEUE, expires_at=h.iso(expires))
    (job,) = h.claim(api, QUEUE, lease=60)
    timers.run_until(expires + 5_000)
    assert h.job(api, job_id)["status"] == "processing"
    response = api.post(
        f"/api/v1/jobs/{job_id}/complete", {"worker_id": "worker-1", "lease_id": job["lease_id"]}
    )
    assert response.status == 200
    assert h.job(api, job_id)["status"] == "completed"


def test_a_job_back_in_backoff_after_its_expiry_ends_cancelled(api: Any, clock: Any, timers: Timers) -> None:
    expires = clock.now_ms() + 20_000
    job_id = h.create(api, queue_name=QUEUE, expires_at=h.iso(expires), max_retries=3)
    (job,) = h.claim(api, QUEUE, lease=30)
    timers.run_until(h.ms(job["lease_expires_at"]) + 3_000)  # lease ends after expires_at
    document = h.job(api, job_id)
    assert document["status"] == "cancelled" and document["retry_count"] == 1
    assert document["last_error"] == EXPIRED
    assert h.claim(api, QUEUE) == []


def test_a_job_retried_from_the_dlq_keeps_its_expiry(api: Any, clock: Any, timers: Timers) -> None:
    expires = clock.now_ms() + 600_000
    job_id = h.create(api, queue_name=QUEUE, expires_at=h.iso(expires), max_retries=0)
    (job,) = h.claim(api, QUEUE)
    failed = api.post(
        f"/api/v1/jobs/{job_id}/fail", {"worker_id": "worker-1", "lease_id": job["lease_id"], "error": "x"}
    )
    assert failed.status == 200 and h.job(api, job_id)["status"] == "deadletter"
    assert api.post("/api/v1/jobs/dlq/retry", {"job_ids": [job_id]}).json["retried_count"] == 1
    timers.run_until(expires - 600)
    assert h.job(api, job_id)["status"] == "pending"
    timers.run_until(expires + 1_000)
    _assert_expired_at(api, job_id, expires)
