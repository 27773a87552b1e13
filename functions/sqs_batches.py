"""An SQS batch handled record by record, earliest due first (the dispatch and schedule-fire queues).

Powertools' BatchProcessor reports each failing record in batchItemFailures, so only that record
comes back after the visibility timeout. Both queues hold messages that are held until their due
millisecond once they arrive (up to a second early): taking the earliest first means holding one
never delays a message due before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.plumbing import observability


def process_earliest_first(
    event: dict[str, Any], context: Any, handle_body: Callable[[str], None], due_ms_of: Callable[[str], int]
) -> dict[str, Any]:
    def due_ms(record: dict[str, Any]) -> int:
        try:
            return due_ms_of(record.get("body") or "")
        except (ValueError, KeyError, TypeError):
            return 0  # not a message of this queue: it fails in its turn and is reported

    def record_handler(record: SQSRecord) -> None:
        observability.begin(context, record.message_id)  # each record's lines carry its message id
        handle_body(record.body)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    event = {**event, "Records": sorted(event.get("Records") or [], key=due_ms)}
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
