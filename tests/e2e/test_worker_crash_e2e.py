"""A worker process killed with SIGKILL while it holds jobs: another worker gets them after the lease.

The crashing worker is a real SDK SpooledWorker in its own process (`make dev` is another process
too); it claims jobs with a 5 s lease, reports each claim, and hangs. It gets SIGKILL: no
deregister, no fail, no more heartbeats. The leases end, the timers return the jobs to pending
(retry_count + 1, "Lease expired (worker timeout)"), and a second worker processes every one of
them exactly once. Nothing is lost, nothing runs twice after the crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from spooled import SpooledClient, SpooledWorker
from spooled.worker.types import JobContext

from tests.e2e.conftest import REPO_ROOT, RunningStack
from tests.e2e.sdk_helpers import running, wait_for_status, wait_until

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 5  # the contract's minimum: the shortest wait for the crash to be noticed
JOBS = 4

# The doomed worker: reports every job it starts, one line per job, then hangs in the handler.
CRASHING_WORKER = textwrap.dedent(
    """
    import sys, threading
    from spooled import SpooledClient, SpooledWorker
    from spooled.config import RetryConfig

    base_url, api_key, queue, report, lease, concurrency = sys.argv[1:7]
    client = SpooledClient(api_key=api_key, base_url=base_url, retry=RetryConfig(max_retries=0))
    worker = SpooledWorker(
        client, queue, poll_interval=0.1, lease_duration=int(lease), concurrency=int(concurrency)
    )

    @worker.process
    def hang(ctx):
        with open(report, "a") as out:
            out.write(ctx.job_id + "\\n")
        threading.Event().wait()  # never returns: only SIGKILL ends this

    worker.start()
    """
)


def _started(report: Path) -> list[str]:
    return report.read_text().split() if report.exists() else []


def test_jobs_of_a_killed_worker_are_processed_by_another_after_the_lease(
    local_stack: RunningStack, client: SpooledClient, queue_name: str, tmp_path: Path
) -> None:
    ids = [client.jobs.create({"queue_name": queue_name, "payload": {"n": n}}).id for n in range(JOBS)]
    report = tmp_path / "started.txt"
    doomed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CRASHING_WORKER,
            local_stack.base_url,
            local_stack.api_key,
            queue_name,
            str(report),
            str(LEASE_SECONDS),
            str(JOBS),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: len(_started(report)) == JOBS or doomed.poll() is not None, "the doomed worker's claims"
        )
        assert doomed.poll() is None, doomed.stderr.read().decode() if doomed.stderr else ""
        held = {job_id: client.jobs.get(job_id) for job_id in ids}
        assert {job.status for job in held.values()} == {"processing"}
        lease_ids = {job_id: job.lease_id for job_id, job in held.items()}
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    assert sorted(_started(report)) == sorted(ids)

    runs: Counter[str] = Counter()
    lock = threading.Lock()
    survivor = SpooledWorker(client, queue_name, poll_interval=0.1, lease_duration=30, concurrency=JOBS)

    @survivor.process
    def handle(ctx: JobContext) -> dict[str, Any]:
        with lock:
            runs[ctx.job_id] += 1
        return {"n": ctx.payload["n"], "attempt": ctx.retry_count + 1}

    with running(survivor) as errors:
        finished = [wait_for_status(client, job_id, "completed", timeout=60) for job_id in ids]
    assert errors == []

    assert runs == Counter({job_id: 1 for job_id in ids})  # each job once after the crash
    for n, job in enumerate(finished):
        assert job.retry_count == 1
        assert job.result == {"n": n, "attempt": 2}
        assert job.lease_id != lease_ids[job.id]
        history = list(client.jobs.history(job.id))
        kinds = [event.event_type for event in history]
        assert kinds.count("processing") == 2 and kinds.count("retry_scheduled") == 1
        recovery = next(event for event in history if event.event_type == "retry_scheduled")
        assert recovery.details["error"] == "Lease expired (worker timeout)"
    # Nothing lost, nothing duplicated: the queue holds exactly these jobs, all completed.
    listed = client.jobs.list({"queue_name": queue_name, "limit": 100})
    assert sorted((row.id, row.status) for row in listed) == sorted((job_id, "completed") for job_id in ids)
