"""Retry backoff: each retry comes back after its step of the policy, and the DLQ after max_retries.

The delays are checked against the job's own record (scheduled_at = the moment of the fail + the
delay), and the job is shown not claimable before and claimable from that moment, through timer
messages only.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

QUEUE = "retrying"


@pytest.fixture
def timers(api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Timers:
    return h.install(monkeypatch, clock)


def _fail_and_measure(api: Any, timers: Timers, queue: str, attempt: int) -> int | None:
    """Claim, fail, and return the backoff the job got (None once it is dead-lettered)."""
    (job,) = h.claim(api, queue)
    assert job["retry_count"] == attempt
    failed_at = timers.clock.now_ms()
    response = api.post(
        f"/api/v1/jobs/{job['id']}/fail",
        {"worker_id": "worker-1", "lease_id": job["lease_id"], "error": f"boom {attempt}"},
    )
    assert response.status == 200, response
    document = h.job(api, job["id"])
    if document["status"] == "deadletter":
        return None
    assert document["status"] == "pending" and document["retry_count"] == attempt + 1
    assert document["last_error"] == f"boom {attempt}"
    due = h.ms(document["scheduled_at"])
    timers.run_until(due - 600)
    assert h.claim(api, queue) == [], "claimable before its backoff ended"
    timers.run_until(due + 1_000)
    # Made claimable by its timer message, within a second of the due time.
    assert 0 <= h.ms(h.job(api, job["id"])["updated_at"]) - due <= 1_000
    return due - failed_at


@pytest.mark.parametrize(
    ("job_backoff", "queue_backoff", "max_retries", "expected_seconds"),
    [
        # The default policy (the reference's): 1, 2, 4, 8 s, plus up to 499 ms of jitter.
        (None, None, 4, [1, 2, 4, 8]),
        # A queue's policy applies to its jobs...
        (None, {"base_seconds": 2, "factor": 3, "cap_seconds": 30, "jitter_ms": 0}, 5, [2, 6, 18, 30, 30]),
        # ...and a job's own settings win over the queue's, field by field.
        ({"base_seconds": 5, "jitter_ms": 0}, {"factor": 1, "cap_seconds": 600}, 3, [5, 5, 5]),
        ({"base_seconds": 10, "factor": 2, "cap_seconds": 3600, "jitter_ms": 0}, None, 3, [10, 20, 40]),
        # Hours and a day between retries take many SQS hops each; nothing about them is special.
        (
            {"base_seconds": 3600, "factor": 10, "cap_seconds": 86400, "jitter_ms": 0},
            None,
            3,
            [3600, 36000, 86400],
        ),
    ],
)
def test_each_retry_waits_its_backoff_then_the_dlq(
    api: Any,
    timers: Timers,
    job_backoff: dict[str, Any] | None,
    queue_backoff: dict[str, Any] | None,
    max_retries: int,
    expected_seconds: list[int],
) -> None:
    if queue_backoff is not None:
        response = api.put(f"/api/v1/queues/{QUEUE}/config", {"settings": {"retry_backoff": queue_backoff}})
        assert response.status == 200, response
    body: dict[str, Any] = {"queue_name": QUEUE, "max_retries": max_retries}
    if job_backoff is not None:
        body["retry_backoff"] = job_backoff
    job_id = h.create(api, **body)

    delays = [_fail_and_measure(api, timers, QUEUE, attempt) for attempt in range(max_retries + 1)]

    assert delays[-1] is None
    measured = [delay for delay in delays[:-1] if delay is not None]
    jitter = 500 if (job_backoff or {}).get("jitter_ms", (queue_backoff or {}).get("jitter_ms", 500)) else 0
    for seconds, delay in zip(expected_seconds, measured, strict=True):
        assert seconds * 1000 <= delay <= seconds * 1000 + max(jitter - 1, 0)
    document = h.job(api, job_id)
    assert document["retry_count"] == max_retries
    assert document["last_error"] == f"boom {max_retries}"
    assert h.history_types(api, job_id).count("retry_scheduled") == max_retries
    assert h.history_types(api, job_id)[-1] == "deadlettered"


@pytest.mark.parametrize(
    "retry_backoff",
    [
        {"base_seconds": -1},
        {"factor": 0.5},
        {"cap_seconds": 86401},
        {"jitter_ms": 1.5},
        {"base_seconds": "1"},
    ],
)
def test_an_invalid_job_backoff_is_a_client_error(api: Any, retry_backoff: dict[str, Any]) -> None:
    response = api.post("/api/v1/jobs", {"queue_name": QUEUE, "payload": {}, "retry_backoff": retry_backoff})
    assert response.status in (400, 422), response
    assert response.json["code"] == "VALIDATION_ERROR"


def test_a_broken_queue_backoff_falls_back_to_the_default(api: Any, timers: Timers) -> None:
    response = api.put(f"/api/v1/queues/{QUEUE}/config", {"settings": {"retry_backoff": {"factor": "fast"}}})
    assert response.status == 200
    h.create(api, queue_name=QUEUE, max_retries=1)
    delay = _fail_and_measure(api, timers, QUEUE, 0)
    assert delay is not None and 1_000 <= delay <= 1_499
