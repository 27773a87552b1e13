"""Part 5: jobs per second end to end through `make dev` (python -m local_stack as a subprocess),
driven by the official SDK: a regression figure for this machine, not an AWS number.

Each run gets a fresh stack (moto's queries scan whole tables, so runs must not inherit each
other's jobs). W workers, each with its own SpooledClient, first enqueue their share of the jobs
(one create per job, or bulk requests of up to 100), then claim (limit 1, or 10) and complete until
every job is done. The clock runs from the moment all workers start to the last completion.
Every claim is logged with its job id, for the shard-spread check of part 6. Each run also reports
the stack's CPU time per job (`stack_cpu_ms_per_job`, all its threads, from /proc): what the jobs
per second cost, a figure the machine's load moves far less than the rate.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.lifecycle import PAYLOAD_BYTES, BenchError, payload_of_size
from local_stack.subprocess_runner import LocalStackProcess, StackStartError

API_KEY = "sp_test_bench_0123456789abcdefghijklmnopqrstuvwxyzAB"
STARTUP_SECONDS = 60.0
LEASE_SECONDS = 300
REQUEST_TIMEOUT_SECONDS = 300.0  # under 16 workers the stack serializes every AWS call: be patient


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@dataclass
class RunningStack:
    base_url: str
    shards: int
    log_path: Path
    pid: int | None = None  # the child process, for its CPU time (bench/local_speed.py)


@contextlib.contextmanager
def local_stack(log_path: Path, shards: int) -> Iterator[RunningStack]:
    """`python -m local_stack` (what `make dev` runs) on a free port, stopped with SIGTERM."""
    environment = {
        "SPOOLED_DEV_API_KEY": API_KEY,
        "SPOOLED_READY_SHARDS": str(shards),
        # The organization's default limit (3,000 requests a minute) is a production guard; 16
        # workers at full speed pass it, and this measures the stack, not the limiter: off.
        "SPOOLED_ORG_RATE_LIMIT_PER_MINUTE": "0",
    }
    stack = LocalStackProcess(log_path, environment, STARTUP_SECONDS)
    try:
        stack.start()
    except StackStartError as error:
        raise BenchError(f"the local stack did not start; see {log_path}") from error
    try:
        yield RunningStack(stack.base_url, shards, log_path, stack.process.pid if stack.process else None)
    finally:
        stack.stop(timeout=15)


@dataclass
class _Progress:
    jobs: int
    completed: int = 0
    claims: list[tuple[float, str]] = field(default_factory=list)  # (when, job id)
    errors: list[BaseException] = field(default_factory=list)
    finished_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(stack: RunningStack) -> Any:
    from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient

    # A failed request must fail the run, not be retried into a figure that hides it.
    return SpooledClient(
        api_key=API_KEY,
        base_url=stack.base_url,
        timeout=REQUEST_TIMEOUT_SECONDS,
        retry=RetryConfig(max_retries=0),
        circuit_breaker=CircuitBreakerConfig(enabled=False),
    )


def _worker(
    stack: RunningStack,
    queue: str,
    share: int,
    batched: bool,
    index: int,
    start: threading.Barrier,
    p: _Progress,
) -> None:
    client = _client(stack)
    payload = payload_of_size(PAYLOAD_BYTES)
    worker_id = f"bench-worker-{index}"
    try:
        start.wait()
        if batched:
            for first in range(0, share, 100):
                jobs = [{"payload": payload} for _ in range(min(100, share - first))]
                client.jobs.bulk_enqueue({"queue_name": queue, "jobs": jobs})
        else:
            for _ in range(share):
                client.jobs.create({"queue_name": queue, "payload": payload})
        while True:
            with p.lock:
                if p.completed >= p.jobs or p.errors:
                    return
            # A long lease: on a loaded machine, the last of ten jobs claimed together could be
            # completed after the default 30 s, and a run must measure throughput, not fail on that.
            claim = {
                "queue_name": queue,
                "worker_id": worker_id,
                "limit": 10 if batched else 1,
                "lease_duration_secs": LEASE_SECONDS,
            }
            claimed = client.jobs.claim(claim)
            with p.lock:
                p.claims.extend((time.perf_counter(), job.id) for job in claimed.jobs)
            for job in claimed.jobs:
                done = {"worker_id": worker_id, "lease_id": job.lease_id, "result": {"ok": True}}
                client.jobs.complete(job.id, done)
            with p.lock:
                p.completed += len(claimed.jobs)
                if p.completed >= p.jobs and not p.finished_at:
                    p.finished_at = time.perf_counter()
            if not claimed.jobs:
                time.sleep(0.02)  # the rest is in other workers' hands: do not hammer the stack
    except BaseException as error:
        with p.lock:
            p.errors.append(error)
    finally:
        client.close()


def run(stack: RunningStack, workers: int, jobs: int, batched: bool) -> dict[str, Any]:
    queue = f"throughput-{uuid.uuid4().hex[:8]}"
    progress = _Progress(jobs)
    start = threading.Barrier(workers + 1)
    shares = [jobs // workers + (1 if i < jobs % workers else 0) for i in range(workers)]
    threads = [
        threading.Thread(
            target=_worker, args=(stack, queue, shares[i], batched, i, start, progress), daemon=True
        )
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    cpu_before = cpu_seconds(stack.pid) if stack.pid is not None else None
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    cpu = None if cpu_before is None or stack.pid is None else cpu_seconds(stack.pid) - cpu_before
    if progress.errors:
        error = progress.errors[0]
        raise BenchError(f"a worker failed ({workers} workers): {error!r}") from error
    claimed_ids = [job_id for _, job_id in progress.claims]
    if progress.completed != jobs or len(set(claimed_ids)) != jobs or len(claimed_ids) != jobs:
        distinct = len(set(claimed_ids))
        raise BenchError(f"{jobs} jobs, {progress.completed} completed, {distinct} distinct claims")
    seconds = progress.finished_at - began
    return {
        "workers": workers,
        "mode": "batched" if batched else "single",
        "jobs": jobs,
        "seconds": round(seconds, 2),
        "jobs_per_second": round(jobs / seconds, 2),
        "stack_cpu_ms_per_job": None if cpu is None else round(1000 * cpu / jobs, 2),
        "claim_order": [job_id for _, job_id in sorted(progress.claims)],
    }


def measure(plan: list[tuple[int, bool, int]], log_path: Path, shards: int) -> list[dict[str, Any]]:
    """Each (workers, batched, jobs) of the plan on a stack of its own."""
    results = []
    for workers, batched, jobs in plan:
        with local_stack(log_path, shards) as stack:
            results.append(run(stack, workers, jobs, batched))
    return results
