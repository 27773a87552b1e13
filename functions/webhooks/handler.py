"""The webhooks Lambda: delivery messages from the webhook delivery queue (SQS event source with
ReportBatchItemFailures). Each message is one attempt of one delivery (shared/webhooks/outgoing/delivery.py).

The records of a batch are delivered side by side: one attempt may wait 15 s on a slow receiver
(5 s connect + 10 s), and ten in a row would outlast the queue's 90 s visibility timeout. A record
fails (and SQS brings it back) only when AWS fails us or the message is unreadable; a receiver
that fails is answered by queueing the next attempt, and the record succeeds.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from shared.plumbing import observability
from shared.webhooks.outgoing.delivery import AttemptNotReady, WebhookDeliverer
from shared.webhooks.outgoing.messages import DeliveryMessage

logger = logging.getLogger("spooled.webhooks")
# What handle() answers → the delivery metric it counts (docs/operations.md).
OUTCOME_METRICS = {
    "delivered": observability.WEBHOOK_DELIVERED,
    "retrying": observability.WEBHOOK_RETRYING,
    "failed": observability.WEBHOOK_GAVE_UP,
}

MAX_PARALLEL = 10  # the event source's batch size


@lru_cache(maxsize=1)
def deliverer() -> WebhookDeliverer:
    return WebhookDeliverer()


def _deliver(record: dict[str, Any], target: WebhookDeliverer) -> bool:
    # Records are delivered side by side: the correlation id goes on each line, not the logger.
    extra = {"correlation_id": record.get("messageId")}
    try:
        message = DeliveryMessage.from_json(record.get("body") or "")
        outcome = target.handle(message)
    except AttemptNotReady as early:
        # SQS delivers it again after the visibility timeout
        logger.info("%s: back later", early, extra=extra)
        return False
    except Exception:
        logger.exception("webhook delivery message %s failed", record.get("messageId"), extra=extra)
        return False
    if outcome in OUTCOME_METRICS:
        observability.count(OUTCOME_METRICS[outcome])
    logger.info("delivery %s attempt %d: %s", message.delivery_id, message.attempt, outcome, extra=extra)
    return True


def handle(event: dict[str, Any], target: WebhookDeliverer, parallel: int = MAX_PARALLEL) -> dict[str, Any]:
    records = event.get("Records") or []
    if parallel <= 1 or len(records) <= 1:
        results = [_deliver(record, target) for record in records]
    else:
        with ThreadPoolExecutor(max_workers=min(parallel, len(records))) as pool:
            results = list(pool.map(lambda record: _deliver(record, target), records))
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]}
            for record, ok in zip(records, results, strict=True)
            if not ok
        ]
    }


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    observability.begin(context)
    try:
        return handle(event, deliverer())
    finally:
        observability.flush()
