"""Waiting for the stack to get somewhere, and running an SDK worker for the length of a block."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from spooled import SpooledClient, SpooledWorker
from spooled.types.jobs import Job

T = TypeVar("T")

# Bounds on waiting, not expectations of speed: a correct stack gets there in a fraction of these.
DEFAULT_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = DEFAULT_WAIT_SECONDS) -> T:
    """Call `probe` until it returns something truthy; fail with `what` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def wait_for_status(
    client: SpooledClient, job_id: str, status: str, timeout: float = DEFAULT_WAIT_SECONDS
) -> Job:
    seen: list[str] = []

    def probe() -> Job | None:
        job = client.jobs.get(job_id)
        if not seen or seen[-1] != job.status:
            seen.append(str(job.status))
        return job if job.status == status else None

    try:
        return wait_until(probe, f"job {job_id} to be {status}", timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; statuses seen: {seen}") from None


@contextmanager
def running(worker: SpooledWorker) -> Iterator[list[Exception]]:
    """Run `worker.start()` in a thread for the block; yields the errors the worker reported.

    The block only starts once the worker is registered and polling, and the worker is stopped
    (drained and deregistered) when the block ends.
    """
    errors: list[Exception] = []
    worker.on("error", lambda event: errors.append(event.error))
    thread = threading.Thread(target=worker.start, name="sdk-worker", daemon=True)
    thread.start()
    wait_until(lambda: worker.state == "running" or not thread.is_alive(), "the worker to start")
    if worker.state != "running":
        raise AssertionError(f"the worker did not start (state {worker.state}): {errors}")
    try:
        yield errors
    finally:
        worker.stop()
        thread.join(timeout=DEFAULT_WAIT_SECONDS)
        if thread.is_alive():
            raise AssertionError("the worker did not stop")


def compact_json(value: Any) -> str:
    """The JSON text of a value as the SDK sends it and the service measures it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_size(value: Any) -> int:
    return len(compact_json(value).encode("utf-8"))
