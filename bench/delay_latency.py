"""How late delayed jobs become claimable in `make dev` (issue 4: "at that second, ±1 s").

    .venv/bin/python -m bench.delay_latency                 starts `python -m local_stack` itself
    .venv/bin/python -m bench.delay_latency --jobs 200 --json
    .venv/bin/python -m bench.delay_latency --base-url http://127.0.0.1:8080 --api-key sp_test_...

It creates --jobs jobs with scheduled_at spread over the next --spread seconds (at random
milliseconds), waits for them, and reports per job: lateness = the moment the job was promoted
(its updated_at, stamped by the server in the promote transition, the write that makes it
claimable) minus its scheduled_at. It also reports when this client first saw each job pending
(polling GET /jobs/status every 50 ms), as a cross-check from outside.

The stack it starts runs its timer sweep every 60 s (SPOOLED_SWEEP_INTERVAL_SECS=60), as on AWS,
so only the timer messages (stream → SQS delayed message → dispatcher) can be on time: what is
measured is that path. No worker claims anything (a claim would promote due jobs itself).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_stack.subprocess_runner import LocalStackProcess

POLL_SECONDS = 0.05


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _ms(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Api:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=self.headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None


def start_stack(log_path: Path) -> tuple[LocalStackProcess, str, str]:
    api_key = f"sp_test_bench_{uuid.uuid4().hex}"
    # The sweep at AWS's 60 s, so what is measured is the SQS timer path, not the local 1 s sweep.
    stack = LocalStackProcess(log_path, {"SPOOLED_DEV_API_KEY": api_key, "SPOOLED_SWEEP_INTERVAL_SECS": "60"})
    stack.start()
    return stack, stack.base_url, api_key


def measure(api: Api, jobs: int, spread_seconds: float, lead_seconds: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    queue = f"bench-delay-{uuid.uuid4().hex[:8]}"
    scheduled: dict[str, int] = {}
    start = _now_ms() + int(lead_seconds * 1000)
    for _ in range(jobs):
        due = start + rng.randrange(int(spread_seconds * 1000))
        created = api.call(
            "POST", "/api/v1/jobs", {"queue_name": queue, "payload": {}, "scheduled_at": _iso(due)}
        )
        scheduled[created["id"]] = due
    if min(scheduled.values()) <= _now_ms():
        raise RuntimeError("creating the jobs took longer than --lead; raise it")

    seen_pending: dict[str, int] = {}
    deadline = max(scheduled.values()) + 90_000  # past a whole sweep interval: nothing may be lost
    while len(seen_pending) < jobs and _now_ms() < deadline:
        waiting = [job_id for job_id in scheduled if job_id not in seen_pending]
        for chunk in range(0, len(waiting), 100):
            ids = ",".join(waiting[chunk : chunk + 100])
            polled_at = _now_ms()
            for row in api.call("GET", f"/api/v1/jobs/status?ids={ids}"):
                if row["status"] != "scheduled":
                    seen_pending[row["id"]] = polled_at
        time.sleep(POLL_SECONDS)

    promoted: dict[str, int] = {}
    for job_id in scheduled:
        document = api.call("GET", f"/api/v1/jobs/{job_id}")
        if document["status"] == "pending":
            promoted[job_id] = _ms(document["updated_at"])
    lateness = sorted(promoted[j] - scheduled[j] for j in promoted)
    observed = sorted(seen_pending[j] - scheduled[j] for j in seen_pending)
    return {
        "jobs": jobs,
        "promoted": len(promoted),
        "never_promoted": jobs - len(promoted),
        "spread_seconds": spread_seconds,
        "lateness_ms": _summary(lateness),
        "observed_by_client_ms": _summary(observed),
        "early": sum(1 for value in lateness if value < 0),
        "later_than_1s": sum(1 for value in lateness if value > 1000),
    }


def _summary(values: list[int]) -> dict[str, float | int | None]:
    if not values:
        return {"min": None, "median": None, "p90": None, "max": None}
    return {
        "min": values[0],
        "median": statistics.median(values),
        "p90": values[min(len(values) - 1, int(len(values) * 0.9))],
        "max": values[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--spread", type=float, default=20.0, help="seconds the due times spread over")
    parser.add_argument("--lead", type=float, default=5.0, help="seconds from now to the first due time")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--base-url", help="measure a stack that is already running instead")
    parser.add_argument("--api-key")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.jobs < 50:
        parser.error("--jobs: at least 50, for a median and a maximum worth the name")

    process = None
    if args.base_url:
        if not args.api_key:
            parser.error("--api-key is required with --base-url")
        base_url, api_key = args.base_url, args.api_key
    else:
        log_path = Path(tempfile.mkdtemp(prefix="delay-latency-")) / "local_stack.log"
        process, base_url, api_key = start_stack(log_path)
    try:
        result = measure(Api(base_url, api_key), args.jobs, args.spread, args.lead, args.seed)
    finally:
        if process is not None:
            process.stop(timeout=30)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        late, seen = result["lateness_ms"], result["observed_by_client_ms"]
        print(f"delayed jobs: {result['promoted']}/{result['jobs']} promoted, due over {args.spread:g} s")
        print(
            f"  lateness (promotion - scheduled_at): median {late['median']} ms, p90 {late['p90']} ms, "
            f"max {late['max']} ms, min {late['min']} ms"
        )
        print(f"  first seen pending by this client:  median {seen['median']} ms, max {seen['max']} ms")
        print(f"  early: {result['early']}, later than 1 s: {result['later_than_1s']}")
    return 0 if result["never_promoted"] == 0 and result["early"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
