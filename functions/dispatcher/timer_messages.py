"""Timer messages from the dispatch queue, with partial batch failure reporting.

Each record is handled on its own (Powertools BatchProcessor): a failing record is reported in
batchItemFailures and comes back after the visibility timeout, the others are deleted. Handling a
record twice is harmless (shared/job_timers.py): a wake acts through conditional transitions on
what it reads, and a far timer's next hop is claimed in a ledger before it is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared import job_timers
from shared.job_store import JobStore
from shared.timer_queue import TimerQueue, decode


def handle(
    event: dict[str, Any],
    context: Any,
    store: JobStore,
    timers: TimerQueue,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    def record_handler(record: SQSRecord) -> None:
        message = decode(record.body)
        timers.arm(job_timers.fire(store, message, sleep))

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    # Earliest due first, so that holding one early message never delays a later one.
    event = {**event, "Records": sorted(event.get("Records") or [], key=_due_ms)}
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


def _due_ms(record: dict[str, Any]) -> int:
    try:
        return decode(record.get("body") or "").due_ms
    except (ValueError, KeyError, TypeError):
        return 0  # not a timer message: it fails in its turn and is reported
