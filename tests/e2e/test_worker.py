"""The SDK's SpooledWorker against the stack: success, and failure → backoff → DLQ → retry → success."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import pytest
from spooled import SpooledClient, SpooledWorker
from spooled.worker.types import JobContext

from tests.e2e.sdk_helpers import running, wait_for_status

pytestmark = pytest.mark.e2e

FAST_POLL = 0.1  # seconds between a worker's claims; the SDK default (1 s) only slows the tests


def test_worker_completes_a_job_with_the_handlers_result(client: SpooledClient, queue_name: str) -> None:
    job_id = client.jobs.create({"queue_name": queue_name, "payload": {"to": "ada@example.com", "n": 21}}).id
    completed: list[str] = []
    worker = SpooledWorker(client, queue_name, poll_interval=FAST_POLL)
    worker.on("job:completed", lambda event: completed.append(event.job_id))

    @worker.process
    def handle(ctx: JobContext) -> dict[str, Any]:
        return {"delivered_to": ctx.payload["to"], "doubled": ctx.payload["n"] * 2, "job": ctx.job_id}

    with running(worker) as errors:
        job = wait_for_status(client, job_id, "completed")

    assert errors == []
    assert completed == [job_id]
    assert job.result == {"delivered_to": "ada@example.com", "doubled": 42, "job": job_id}
    assert job.retry_count == 0
    assert job.started_at is not None and job.completed_at is not None
    assert job.started_at <= job.completed_at


def test_failing_job_backs_off_dead_letters_and_comes_back_from_the_dlq(
    client: SpooledClient, queue_name: str
) -> None:
    job_id = client.jobs.create(
        {"queue_name": queue_name, "payload": {"to": "bob@example.com"}, "max_retries": 2}
    ).id
    attempts: list[tuple[int, float]] = []  # (retry_count the handler saw, when it started)

    broken = SpooledWorker(client, queue_name, poll_interval=FAST_POLL, concurrency=1)

    @broken.process
    def always_fails(ctx: JobContext) -> dict[str, Any]:
        attempts.append((ctx.retry_count, time.monotonic()))
        raise RuntimeError(f"smtp unavailable (attempt {ctx.retry_count + 1})")

    with running(broken) as errors:
        job = wait_for_status(client, job_id, "deadletter")
    assert errors == []

    # max_retries=2: three executions, then the dead-letter queue.
    assert [seen for seen, _ in attempts] == [0, 1, 2]
    assert job.retry_count == 2
    assert job.last_error == "smtp unavailable (attempt 3)"
    # A lower bound, so it cannot flake on a slow machine: a retry is not claimable before its
    # backoff (1 s after the first failure, 2 s after the second) has passed.
    gaps = [later - earlier for (_, earlier), (_, later) in pairwise(attempts)]
    assert gaps[0] >= 1.0 and gaps[1] >= 2.0, gaps

    dead = client.jobs.dlq.list({"queue_name": queue_name})
    assert [(row.id, row.status, row.retry_count) for row in dead] == [(job_id, "deadletter", 2)]
    assert dead[0].last_error == "smtp unavailable (attempt 3)"

    retried = client.jobs.dlq.retry({"job_ids": [job_id]})
    assert retried.retried_count == 1
    assert retried.retried_jobs == [job_id]
    revived = client.jobs.get(job_id)
    assert (revived.status, revived.retry_count, revived.last_error) == ("pending", 0, None)
    assert list(client.jobs.dlq.list({"queue_name": queue_name})) == []

    fixed = SpooledWorker(client, queue_name, poll_interval=FAST_POLL, concurrency=1)

    @fixed.process
    def now_works(ctx: JobContext) -> dict[str, Any]:
        return {"delivered_to": ctx.payload["to"], "retry_count": ctx.retry_count}

    with running(fixed) as errors:
        job = wait_for_status(client, job_id, "completed")
    assert errors == []
    assert job.result == {"delivered_to": "bob@example.com", "retry_count": 0}
    assert len(attempts) == 3  # the broken worker ran nothing after it stopped
