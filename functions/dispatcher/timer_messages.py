"""Timer messages (and the sweep's fanned-out pages of queues) from the dispatch queue, with
partial batch failure reporting.

Each record is handled on its own (Powertools BatchProcessor): a failing record is reported in
batchItemFailures and comes back after the visibility timeout, the others are deleted. Handling a
record twice is harmless (shared/jobs/timers.py): a wake acts through conditional transitions on
what it reads, and a far timer's next hop is claimed in a ledger before it is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from functions.dispatcher import sweep
from functions.sqs_batches import process_earliest_first
from shared.jobs import timers as job_timers
from shared.jobs.store import JobStore
from shared.jobs.workers.lambda_workers import LambdaWorkers
from shared.plumbing.timer_queue import TimerQueue, decode


def handle(
    event: dict[str, Any],
    context: Any,
    store: JobStore,
    timers: TimerQueue,
    sleep: Callable[[float], None] = time.sleep,
    lambda_workers: LambdaWorkers | None = None,
) -> dict[str, Any]:
    def wake(body: str) -> None:
        queues = sweep.page_of(body)
        if queues is not None:  # a page of the minute sweep (sweep.py); a failure retries the page
            if lambda_workers is None:
                raise RuntimeError("a sweep page needs the Lambda workers")
            sweep.sweep_queues(store, lambda_workers, queues)
            return
        timers.arm(job_timers.fire(store, decode(body), sleep))

    def due_ms(body: str) -> int:
        return 0 if sweep.page_of(body) is not None else decode(body).due_ms

    return process_earliest_first(event, context, wake, due_ms)
