"""Outgoing webhooks: the delivery queue feeds the webhooks function, which calls customers' URLs.

The dispatcher fans events out from the table's stream into WEBHOOK_DELIVERY_QUEUE (one message
per endpoint and event); a failed attempt goes back to the same queue with its backoff as delay.
The function runs outside any VPC: it needs the internet, and a NAT gateway would cost money idle.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs

# The function delivers a batch's records side by side, ten at a time
# (functions/webhooks/handler.py MAX_PARALLEL), so a batch takes as long as its slowest receiver.
DELIVERY_BATCH_SIZE = 10
# One attempt may wait 5 s to connect and 10 s for the answer, then records its outcome. Twice
# that leaves room for the writes and a cold start. The queue's 180 s visibility
# (shared/schema.py) covers it six times, as AWS advises, so a throttled batch does not reappear
# while still being delivered.
DELIVERY_TIMEOUT = cdk.Duration.seconds(30)
# A burst of events (a queue of 10,000 jobs completing) must not take the account's whole Lambda
# concurrency from the API, nor hammer customers' endpoints with hundreds of parallel calls.
MAX_PARALLEL_BATCHES = 10


def consume_deliveries(function: lambda_.IFunction, delivery_queue: sqs.IQueue) -> None:
    function.add_event_source(
        event_sources.SqsEventSource(
            delivery_queue,
            batch_size=DELIVERY_BATCH_SIZE,
            max_concurrency=MAX_PARALLEL_BATCHES,
            report_batch_item_failures=True,
        )
    )
