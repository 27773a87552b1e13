"""Quick start: enqueue a job, process it with a worker, read its result.

Start the local stack in one terminal, then run this in another with the API key it printed:

    make dev
    SPOOLED_BASE_URL=http://127.0.0.1:8080 SPOOLED_API_KEY=sp_test_... .venv/bin/python examples/quickstart.py

Against a deployed stack, use its API URL and a key of your organization instead.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

from spooled import SpooledClient, SpooledWorker
from spooled.types.jobs import Job
from spooled.worker.types import JobContext

QUEUE = "emails"
UNSUCCESSFUL = {"failed", "deadletter", "cancelled"}


def send_welcome_email(ctx: JobContext) -> dict[str, Any]:
    """The job handler. A real one would call an e-mail provider; what it returns is the job's result."""
    return {"delivered_to": ctx.payload["to"], "subject": ctx.payload["subject"], "attempt": ctx.retry_count}


def wait_until_completed(client: SpooledClient, job_id: str, timeout: float = 30.0) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = client.jobs.get(job_id)
        if job.status == "completed":
            return job
        if job.status in UNSUCCESSFUL:
            raise RuntimeError(f"job {job_id} ended as {job.status}: {job.last_error}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} is still {job.status} after {timeout:.0f} s")
        time.sleep(0.2)


def main() -> int:
    api_key = os.environ.get("SPOOLED_API_KEY")
    if not api_key:
        print("Set SPOOLED_API_KEY (and SPOOLED_BASE_URL) first; `make dev` prints a key.", file=sys.stderr)
        return 2
    base_url = os.environ.get("SPOOLED_BASE_URL", "http://127.0.0.1:8080")
    client = SpooledClient(api_key=api_key, base_url=base_url)
    try:
        created = client.jobs.create(
            {
                "queue_name": QUEUE,
                "payload": {"to": "ada@example.com", "subject": "Welcome aboard"},
                "max_retries": 3,
            }
        )
        print(f"created job {created.id} on queue {QUEUE!r}")

        worker = SpooledWorker(client, queue_name=QUEUE, poll_interval=0.5)
        worker.process(send_welcome_email)
        # start() blocks while the worker polls, so it gets a thread and this one watches the job.
        thread = threading.Thread(target=worker.start, daemon=True)
        thread.start()
        try:
            job = wait_until_completed(client, created.id)
        finally:
            worker.stop()  # finishes running jobs, then deregisters
            thread.join(timeout=30)
        print(f"job {job.id} completed with result {json.dumps(job.result)}")
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
