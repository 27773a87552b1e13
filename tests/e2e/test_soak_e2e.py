"""Soak: jobs through 16 SDK worker processes against `make dev` while workers are SIGKILLed at random.

Every job must end completed exactly once as the service records it (status completed, one
"completed" event in its history, the result of the run that completed it), nothing stuck,
nothing lost. A handler may run more than once (at-least-once delivery): each extra run must be
explained by a lease that ended, i.e. a job whose handler started n times has retry_count >= n - 1
(its earlier workers were killed holding it; the lease expired and the job came back).

`make test` runs SPOOLED_SOAK_JOBS (default 100); `make soak` runs 5,000. The figures are printed
on a SOAK line for docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from spooled import SpooledClient

from tests.e2e.conftest import REPO_ROOT, ClientFactory, RunningStack
from tests.e2e.sdk_helpers import wait_until

pytestmark = pytest.mark.e2e

JOBS = int(os.environ.get("SPOOLED_SOAK_JOBS", "100"))
WORKERS = 16
LEASE_SECONDS = 10  # near the contract's minimum: a killed worker's jobs come back soonest
BULK = 100  # jobs per POST /jobs/bulk
KILLS = max(6, JOBS // 50)  # SIGKILLs of a random worker while the jobs run
# Bounds on waiting, not expectations of speed: only a stuck job (or a hung stack) reaches them.
HANG_GUARD_SECONDS = 300 + JOBS // 5
OBSERVER_TIMEOUT_SECONDS = 120

# One SDK worker process: writes "start <job id>" before and "done <job id>" after each handler run.
WORKER = textwrap.dedent(
    """
    import os, random, sys, time
    from spooled import SpooledClient, SpooledWorker

    base_url, api_key, queue, report, lease = sys.argv[1:6]
    client = SpooledClient(api_key=api_key, base_url=base_url)
    worker = SpooledWorker(client, queue, poll_interval=1.0, lease_duration=int(lease), concurrency=1)
    out = open(report, "a", buffering=1)

    @worker.process
    def handle(ctx):
        out.write(f"start {ctx.job_id}\\n")
        time.sleep(random.random() * 0.05)
        out.write(f"done {ctx.job_id}\\n")
        return {"n": ctx.payload["n"], "pid": os.getpid()}

    worker.start()
    """
)


def _start_worker(stack: RunningStack, queue: str, report: Path, logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"worker-{uuid.uuid4().hex[:8]}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, stack.base_url, stack.api_key, queue, str(report), str(LEASE_SECONDS)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _all_jobs(client: SpooledClient, queue: str) -> list[Any]:
    rows: list[Any] = []
    while True:
        page = list(client.jobs.list({"queue_name": queue, "limit": 100, "offset": len(rows)}))
        rows.extend(page)
        if len(page) < 100:
            return rows


def test_soak_every_job_completed_exactly_once_while_workers_are_killed(
    local_stack: RunningStack, make_client: ClientFactory, queue_name: str, tmp_path: Path
) -> None:
    # No retries (a 5xx fails at once), but patience: 16 workers keep the stack busy, and on a shared
    # machine one answer can take longer than the SDK's default 30 s.
    client = make_client(timeout=OBSERVER_TIMEOUT_SECONDS)
    rng = random.Random(12)
    report = tmp_path / "runs.txt"
    report.touch()
    ids: list[str] = []
    for start in range(0, JOBS, BULK):
        batch = [{"payload": {"n": n}} for n in range(start, min(JOBS, start + BULK))]
        created = client.jobs.bulk_enqueue({"queue_name": queue_name, "jobs": batch})
        assert created.failure_count == 0
        ids.extend(row.job_id for row in created.succeeded)
    assert len(set(ids)) == JOBS

    workers = [_start_worker(local_stack, queue_name, report, tmp_path) for _ in range(WORKERS)]
    kills = 0
    started = time.monotonic()

    remaining = set(ids)

    def completed() -> int:
        """Jobs the service records as completed (read from the jobs themselves, 100 ids a call)."""
        pending = sorted(remaining)
        for start in range(0, len(pending), 100):
            for row in client.jobs.batch_status(pending[start : start + 100]):
                if row.status == "completed":
                    remaining.discard(row.id)
        return JOBS - len(remaining)

    try:
        # Kill a random worker every 1-4 s (and start a new one in its place), KILLS times or until
        # 90% are done; then the survivors finish, including what the killed ones held (their
        # leases run out and the jobs come back).
        while kills < KILLS and completed() < JOBS * 0.9:
            time.sleep(1 + rng.random() * 3)
            victim = rng.randrange(WORKERS)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = _start_worker(local_stack, queue_name, report, tmp_path)
        wait_until(
            lambda: completed() == JOBS,
            "every job to complete",
            timeout=HANG_GUARD_SECONDS,
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()

    rows = _all_jobs(client, queue_name)
    assert sorted(row.id for row in rows) == sorted(ids), "a job was lost or appeared twice"
    assert Counter(row.status for row in rows) == Counter({"completed": JOBS})
    starts = Counter(line.split()[1] for line in report.read_text().splitlines() if line.startswith("start"))
    assert set(starts) == set(ids), "a completed job whose handler never ran"
    ran_again = {job_id: n for job_id, n in starts.items() if n > 1}
    retry_counts = {row.id: row.retry_count for row in rows}
    for job_id, runs in ran_again.items():
        # At-least-once: every extra run follows a lease that ended (the worker was killed).
        assert retry_counts[job_id] >= runs - 1, (job_id, runs, retry_counts[job_id])
    completed_events = 0
    for job_id in ids:
        job = client.jobs.get(job_id)
        history = [event.event_type for event in client.jobs.history(job_id)]
        assert history.count("completed") == 1, (job_id, history)
        completed_events += 1
        assert job.result["n"] == int(job.payload["n"])
    print(
        f"\nSOAK jobs={JOBS} workers={WORKERS} kills={kills} completed={completed_events} lost=0 "
        f"duplicated_completions=0 stuck=0 handlers_run_twice_or_more={len(ran_again)} "
        f"extra_handler_runs={sum(n - 1 for n in ran_again.values())} "
        f"jobs_recovered_after_lease_expiry={sum(1 for n in retry_counts.values() if n)} "
        f"seconds={time.monotonic() - started:.0f}"
    )
