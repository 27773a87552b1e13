"""The scheduler Lambda: cron fires from the schedule-fire queue (SQS event source, partial batch
responses).

Each record is one fire {org_id, schedule_id, fire_ms}, from a delayed SQS message, an EventBridge
Scheduler wake-up, or this function re-sending one that came too early. Records are handled one by
one (Powertools BatchProcessor): a failing record is reported in batchItemFailures and comes back
after the visibility timeout; handling one twice is harmless (shared/schedules/fires.py).
`make dev` drives it from local_stack/scheduler_loop.py.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from functions.sqs_batches import process_earliest_first
from shared.plumbing import observability
from shared.schedules.arming import FireMessage
from shared.schedules.fires import ScheduleFirer

logger = logging.getLogger("spooled.scheduler")


@lru_cache(maxsize=1)
def firer() -> ScheduleFirer:
    return ScheduleFirer()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    def fire(body: str) -> None:
        message = FireMessage.from_json(body)
        observability.bind(org_id=message.org_id, schedule_id=message.schedule_id)
        result = firer().fire(message)
        logger.info("schedule %s fire %s: %s", message.schedule_id, message.fire_ms, result)

    try:
        return process_earliest_first(event, context, fire, lambda body: FireMessage.from_json(body).fire_ms)
    finally:
        observability.flush()
