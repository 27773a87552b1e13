"""The Lambda-worker invoker: consumes the Lambda-worker queue, one job per message.

Each message names a job claimed for a queue's Lambda worker; the function is called
synchronously and the job completed or failed with what it returned or raised
(shared/jobs/workers/lambda_workers.py). Deployed as its own function with a timeout that covers the longest
worker (Lambda's 900 s), apart from the dispatcher whose timer messages must not wait behind it.
A redelivered message, or this function retried on the same event, finds the job already marked
invoked under that lease and does nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.jobs.store import JobStore
from shared.jobs.workers.lambda_workers import AwsLambdaInvoker, FunctionInvoker, InvokeRequest, LambdaWorkers
from shared.plumbing import observability
from shared.plumbing.config import settings
from shared.plumbing.timer_queue import SqsSender


@lru_cache(maxsize=1)
def lambda_workers() -> LambdaWorkers:
    return LambdaWorkers(JobStore(), SqsSender(settings().lambda_worker_queue_url))


@lru_cache(maxsize=1)
def aws_invoker() -> AwsLambdaInvoker:
    return AwsLambdaInvoker()


def handle(
    event: dict[str, Any], context: Any, workers: LambdaWorkers, invoker: FunctionInvoker
) -> dict[str, Any]:
    def record_handler(record: SQSRecord) -> str:
        request = InvokeRequest.from_json(record.body)
        observability.begin(
            context, record.message_id, org_id=request.org_id, queue=request.queue, job_id=request.job_id
        )
        return workers.run(request, invoker)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    observability.begin(context)
    try:
        return handle(event, context, lambda_workers(), aws_invoker())
    finally:
        observability.flush()
