"""What wakes the dispatcher: the dispatch queue, the jobs table's stream, and a one-minute sweep."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks import permissions
from stacks.nag import acknowledge

QUEUE_BATCH_SIZE = 10
STREAM_BATCH_SIZE = 100
# Retries of a failing stream batch before its range goes to the failure queue and the shard
# moves on. Bisecting and partial batch responses narrow each retry down to the failing records,
# so a poison record holds its shard back for a few invocations, not for the stream's 24 h.
STREAM_RETRY_ATTEMPTS = 5
SWEEP_RATE = cdk.Duration.minutes(1)
SWEEP_INPUT = {"sweep": True}


def stream_failure_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """The on-failure destination of the stream mapping: it receives batch metadata, not records."""
    queue = sqs.Queue(
        scope,
        construct_id,
        retention_period=cdk.Duration.days(14),  # SQS's maximum: time to inspect and replay
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
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
                bisect_batch_on_error=True,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                report_batch_item_failures=True,
                on_failure=event_sources.SqsDlq(stream_failures),
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
