"""What wakes the dispatcher: the dispatch queue, the jobs table's stream, and a one-minute sweep."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared.plumbing import schema
from stacks import permissions
from stacks.nag import acknowledge

QUEUE_BATCH_SIZE = 10
# The stream mapping reads its batch size, retries and filter from shared/plumbing/schema.py, as
# local_stack/stream_poller.py does, so make dev and the template cannot drift. The handler answers
# a partial batch response naming the first record whose side effects failed: the shard restarts
# there, so a poison record holds it back for a few invocations, not for the stream's 24 h, and
# then goes (as its shard/sequence range) to the failure queue.
STREAM = schema.DISPATCHER_STREAM
STREAM_BATCH_SIZE = 1000  # a literal: bench/cost_model.py's test reads it without loading the CDK
STREAM_RETRY_ATTEMPTS = STREAM.retry_attempts
if STREAM.batch_size != STREAM_BATCH_SIZE:
    raise ValueError("stacks/dispatcher.py STREAM_BATCH_SIZE must be schema.DISPATCHER_STREAM.batch_size")
SWEEP_RATE = cdk.Duration.minutes(1)
SWEEP_INPUT = {"sweep": True}


def stream_filters(reader: schema.StreamReaderDefinition) -> list[dict[str, str]]:
    """Lambda's FilterCriteria.Filters: one JSON pattern each, exactly the schema's dictionaries."""
    return [{"pattern": json.dumps(pattern, separators=(",", ":"))} for pattern in reader.filters]


def stream_failure_queue(
    scope: Construct, construct_id: str = schema.STREAM_FAILURE_QUEUE.logical_id
) -> sqs.Queue:
    """The on-failure destination of the stream mappings: it receives batch metadata, not records."""
    definition = schema.STREAM_FAILURE_QUEUE
    if construct_id != definition.logical_id:
        raise ValueError(f"the stream failure queue is {definition.logical_id} (shared/plumbing/schema.py)")
    queue = sqs.Queue(
        scope,
        construct_id,
        retention_period=cdk.Duration.days(definition.retention_days),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
    # Pinned to the schema's logical id, as stacks/data.py pins every queue: the local stack and the
    # template name the same queue, and a refactor of the construct tree cannot replace it.
    child = queue.node.default_child
    if not isinstance(child, cdk.CfnResource):
        raise TypeError("the stream failure queue has no CloudFormation resource to pin")
    child.override_logical_id(definition.logical_id)
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        "This queue is itself a dead-letter destination: Lambda sends it the shard/sequence "
        "range of DynamoDB stream batches that failed every retry. It is not the redrive target "
        "of another queue, which is the only dead-letter use the rule recognizes; nothing "
        "consumes it automatically, an alarm fires on its first message.",
    )
    return queue


def time_limit_for(visibility_timeout_seconds: int) -> cdk.Duration:
    # AWS advises a queue visibility timeout of at least 6x the consumer's timeout, so a batch
    # retried after throttling does not reappear while still being processed.
    return cdk.Duration.seconds(max(visibility_timeout_seconds // 6, 3))


class DispatcherTriggers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        queue: sqs.IQueue,
        table: dynamodb.ITable,
        stream_failures: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        # Grants the event sources try to add land on a write-protected role and are dropped;
        # stacks/roles.py lists the permissions instead.
        function.add_event_source(
            event_sources.SqsEventSource(queue, batch_size=QUEUE_BATCH_SIZE, report_batch_item_failures=True)
        )
        function.add_event_source(
            event_sources.DynamoEventSource(
                table,
                # From the oldest record: items written between table and mapping creation count too.
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                # No bisection: the handler never raises (it answers a partial batch response), so
                # only a crash or timeout retries the batch, whole, from its first record, whose
                # stream marks say what was applied (shared/jobs/queues/stream_apply.py). Bisecting
                # would restart at the middle record too, which needed a second mark per queue and
                # batch (2-4 WRU) for a retry that almost never happens.
                bisect_batch_on_error=False,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                report_batch_item_failures=True,
                on_failure=event_sources.SqsDlq(stream_failures),
                # Only the items the dispatcher acts on: not the counters, activity buckets and
                # stream marks it writes itself (issue 16), nor the live-updates connections.
                filters=stream_filters(STREAM),
            )
        )

        # The sweep catches timers that no message covers (lease expiry, schedules due). Its own
        # role, limited to invoking this function, and only from this account's scheduler.
        self.sweep_role = iam.Role(
            self,
            "SweepRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
            ),
            description="EventBridge Scheduler: invoke the Spooled dispatcher for the periodic sweep",
            inline_policies={
                "Invoke": iam.PolicyDocument(statements=[permissions.function_invoke(function, "Dispatcher")])
            },
        )
        self.sweep = scheduler.Schedule(
            self,
            "Sweep",
            description="Spooled dispatcher sweep: expired leases and due timers",
            schedule=scheduler.ScheduleExpression.rate(SWEEP_RATE),
            target=scheduler_targets.LambdaInvoke(
                function,
                input=scheduler.ScheduleTargetInput.from_object(SWEEP_INPUT),
                role=self.sweep_role.without_policy_updates(),
                # A missed sweep is covered by the next one a minute later: no retry pile-up.
                retry_attempts=0,
                max_event_age=SWEEP_RATE,
            ),
        )
