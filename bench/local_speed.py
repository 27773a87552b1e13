"""Part 8: how fast `make dev` feels to a developer (issue 14): request latency through the
official SDK beside a plain `GET /health` round trip, and what the stack costs while idle.

One `python -m local_stack` child process, one SpooledClient (pooled keep-alive connection, as a
developer's code has it), everything timed one request at a time:
- `health`: `client.health.get()`, i.e. `GET /health` (one DynamoDB read): the floor any request
  pays, measured in the same run so a loaded machine shows in both;
- `get_job`: `client.jobs.get(id)`; `create`: `client.jobs.create(...)`; `claim_complete`:
  `client.jobs.claim(limit 1)` then `client.jobs.complete(...)`, timed together;
- `idle`: the child's CPU time (user + system, all its threads, from /proc) over 30 s with nothing
  asked of it, as a share of one core (100 = one core busy). Its tables hold the jobs just made, as
  a developer's stack does after a test run. The sample starts only once the work above is over:
  every claim armed a lease check (an SQS timer message due when the lease ends), and a lease check
  coming due is work, not idleness, so the claims take the shortest lease (5 s) and the sample
  waits until the last one is due and handled (SETTLE_SECONDS more).

Jobs per second with 16 workers are part 5 (bench/throughput.py), batched and one at a time.
`python -m bench.local_speed` runs parts 5 and 8 alone (about a minute) and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.lifecycle import PAYLOAD_BYTES, payload_of_size
from bench.throughput import RunningStack, cpu_seconds, local_stack

# The targets for these figures: key → (bound, "at_most" or "at_least").
TARGETS: dict[str, tuple[float, str]] = {
    "local_get_job_ms_p50": (10.0, "at_most"),
    "local_jobs_per_second_16_workers": (100.0, "at_least"),
    "local_jobs_per_second_16_workers_single": (30.0, "at_least"),
    "local_idle_cpu_percent": (5.0, "at_most"),
}
WARMUP_REQUESTS = 5  # lazy imports and clients of the stack's first requests
LATENCY_LEASE_SECONDS = 5  # the shortest lease the API takes: the lease checks are soon over
SETTLE_SECONDS = 3.0  # after the last lease check is due: its timer message received and handled


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]  # nearest rank


def _timed(call: Callable[[], Any], repeats: int) -> dict[str, Any]:
    for _ in range(WARMUP_REQUESTS):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "count": repeats,
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(_percentile(samples, 0.95), 2),
        "max_ms": round(max(samples), 2),
    }


def _client(stack: RunningStack) -> Any:
    from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient

    from bench.throughput import API_KEY, REQUEST_TIMEOUT_SECONDS

    return SpooledClient(
        api_key=API_KEY,
        base_url=stack.base_url,
        timeout=REQUEST_TIMEOUT_SECONDS,
        retry=RetryConfig(max_retries=0),
        circuit_breaker=CircuitBreakerConfig(enabled=False),
    )


def measure_latency(stack: RunningStack, repeats: int) -> tuple[dict[str, dict[str, Any]], float]:
    """The timings, and the monotonic time of the last claim (its lease check is due a lease later)."""
    client = _client(stack)
    queue = f"speed-{uuid.uuid4().hex[:8]}"
    payload = payload_of_size(PAYLOAD_BYTES)
    last_claim = time.monotonic()
    try:
        job_id = client.jobs.create({"queue_name": queue, "payload": payload}).id

        def claim_complete() -> None:
            nonlocal last_claim
            last_claim = time.monotonic()
            claim = {
                "queue_name": queue,
                "worker_id": "speed",
                "limit": 1,
                "lease_duration_secs": LATENCY_LEASE_SECONDS,
            }
            claimed = client.jobs.claim(claim)
            for job in claimed.jobs:
                done = {"worker_id": "speed", "lease_id": job.lease_id, "result": {"ok": True}}
                client.jobs.complete(job.id, done)

        results = {
            "health": _timed(client.health.get, repeats),
            "get_job": _timed(lambda: client.jobs.get(job_id), repeats),
            "create": _timed(lambda: client.jobs.create({"queue_name": queue, "payload": payload}), repeats),
        }
        # Claims one of the jobs just created each time (all of them were made above).
        results["claim_complete"] = _timed(claim_complete, repeats)
        return results, last_claim
    finally:
        client.close()


def idle_cpu_percent(pid: int, seconds: float) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return round(100 * (cpu_seconds(pid) - before) / (time.monotonic() - started), 2)


def measure(log_path: Path, shards: int, repeats: int, idle_seconds: float) -> dict[str, Any]:
    with local_stack(log_path, shards) as stack:
        latency, last_claim = measure_latency(stack, repeats)
        assert stack.pid is not None
        # The stream, the timers and the lease checks of the requests above run their course first.
        settled_at = last_claim + LATENCY_LEASE_SECONDS + SETTLE_SECONDS
        waited = max(0.0, settled_at - time.monotonic())
        time.sleep(waited)
        idle = idle_cpu_percent(stack.pid, idle_seconds)
    return {
        "latency": latency,
        "idle": {"seconds": idle_seconds, "cpu_percent": idle, "settle_seconds": round(waited, 1)},
        "note": (
            "One SDK client on a kept-alive connection, one request at a time; the stack and the "
            "bench share this machine's cores. Idle CPU: 100 = one core busy for the whole sample."
        ),
    }


def figures(speed: dict[str, Any], throughput_runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """The headline keys of the report; the 16-worker rates are None when the plan lacks them."""

    def rate(mode: str) -> float | None:
        # The median of the plan's 16-worker runs of the mode (the full profile runs each three
        # times, each on a fresh stack): one run on a shared machine swings by a fifth either way.
        runs = [r for r in throughput_runs if r["workers"] == 16 and r["mode"] == mode]
        rates = sorted(r["jobs_per_second"] for r in runs)
        return rates[len(rates) // 2] if rates else None

    return {
        "local_health_ms_p50": speed["latency"]["health"]["p50_ms"],
        "local_get_job_ms_p50": speed["latency"]["get_job"]["p50_ms"],
        "local_jobs_per_second_16_workers": rate("batched"),
        "local_jobs_per_second_16_workers_single": rate("single"),
        "local_idle_cpu_percent": speed["idle"]["cpu_percent"],
    }


def target_checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for key, (bound, direction) in TARGETS.items():
        measured = results.get(key)
        if measured is None:
            continue
        met = measured <= bound if direction == "at_most" else measured >= bound
        checks.append({"key": key, direction: bound, "measured": measured, "met": met})
    return checks


def main(argv: list[str] | None = None) -> int:
    from bench import sandbox, throughput
    from bench.profiles import PROFILES

    parser = argparse.ArgumentParser(prog="python -m bench.local_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    sandbox.use_offline_environment()
    from shared.plumbing.config import settings

    log_path = Path(tempfile.mkdtemp(prefix="bench-")) / "local_stack.log"
    shards = settings().ready_shards
    speed = measure(log_path, shards, profile.local_requests, profile.idle_seconds)
    runs = throughput.measure(list(profile.throughput), log_path, shards)
    for run in runs:
        run.pop("claim_order")
    results = figures(speed, runs)
    print(
        json.dumps(
            {**results, "targets": target_checks(results), "local_speed": speed, "runs": runs}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
