"""The scheduler Lambda: cron fires from the schedule-fire queue (SQS event source, partial batch
responses).

Each record is one fire {org_id, schedule_id, fire_ms}, from a delayed SQS message, an EventBridge
Scheduler wake-up, or this function re-sending one that came too early. Records are handled one by
one (Powertools BatchProcessor): a failing record is reported in batchItemFailures and comes back
after the visibility timeout; handling one twice is harmless (shared/schedule_fires.py).
`make dev` drives it from local_stack/scheduler_loop.py.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.schedule_arming import FireMessage
from shared.schedule_fires import ScheduleFirer

logger = logging.getLogger("spooled.scheduler")


@lru_cache(maxsize=1)
def firer() -> ScheduleFirer:
    return ScheduleFirer()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    def record_handler(record: SQSRecord) -> None:
        message = FireMessage.from_json(record.body)
        result = firer().fire(message)
        logger.info("schedule %s fire %s: %s", message.schedule_id, message.fire_ms, result)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    # Earliest fire first: holding a message due within the second never delays a later one.
    event = {**event, "Records": sorted(event.get("Records") or [], key=_fire_ms)}
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


def _fire_ms(record: dict[str, Any]) -> int:
    try:
        return FireMessage.from_json(record.get("body") or "").fire_ms
    except (ValueError, KeyError, TypeError):
        return 0  # not a fire message: it fails in its turn and is reported
