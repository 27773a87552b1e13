"""What each function may do, in one place a security reviewer can read top to bottom.

Each function lists the resources of shared/plumbing/schema.py it touches and the actions it calls on them;
permissions.py turns that into statements. A new function adds one builder here and one
ServiceFunction call in spooled_stack.py.

Every function that goes through the shared store gets the same item actions on the table: the
store's code paths (auth touching a key's last use, idempotent creates in a transaction, batch
reads of index hits) are shared, and a missing action would only show as AccessDenied in AWS.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from shared.plumbing import schema
from stacks import permissions
from stacks.data import DataStores
from stacks.schedules import ScheduleArming

# Every function that creates or settles jobs reads, writes and deletes their offloaded payloads and
# results: a create whose transaction is cancelled (a duplicate idempotency key, a repeated cron
# fire) deletes the object it just wrote, and so does a complete that lost its lease. Without
# DeleteObject those paths fail with AccessDenied and their messages end dead-lettered
# (tests/cdk/test_function_actions.py derives this from the code). PutObjectTagging: an object is
# written with its `uncommitted` tag (PutObject with a tag needs this action too) and re-tagged
# `committed` once its item is written, which keeps it from the bucket's orphan-expiry rule.
PAYLOAD_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject")


# The item types (partition-key prefixes) the functions outside the store's hot path write; each
# may write nothing else (issue 12, finding 9). The table's key map: shared/*/expressions.py.
WEBHOOK_SENDER_WRITES = (
    "OUTHOOK#",  # the webhook's delivery rows, failure count and auto-disable
    "OUTHOOKS#",  # its subscription row, disabled with it
    "JOBHOOK#",  # completion-webhook delivery rows
    "ORG#",  # the organization's count of enabled webhooks, lowered by an auto-disable
)
LIVE_UPDATES_WRITES = (
    "LIVE#",  # connections, their filters and subscriptions
    "LIVECONN#",  # connection id → organization pointers
    "APIKEY#",  # an API key's last use, touched when it opens a socket
)


def _all_tables(
    data: DataStores, writable_prefixes: tuple[str, ...] | None = None
) -> list[iam.PolicyStatement]:
    statements: list[iam.PolicyStatement] = []
    for definition in schema.TABLES:
        statements.extend(permissions.table_items(data.table(definition), definition, writable_prefixes))
    return statements


def _all_buckets(data: DataStores, actions: tuple[str, ...]) -> list[iam.PolicyStatement]:
    return [
        permissions.object_access(data.bucket(definition), definition, actions)
        for definition in schema.BUCKETS
    ]


def api_statements(
    data: DataStores,
    admin_key: secretsmanager.ISecret,
    jwt_secret: secretsmanager.ISecret,
    metrics_token: secretsmanager.ISecret,
) -> list[iam.PolicyStatement]:
    return [
        *_all_tables(data),
        *_all_buckets(data, PAYLOAD_OBJECT_ACTIONS),
        # No SQS: timers are armed by the dispatcher from the table's stream (docs/timers.md).
        permissions.secret_read(admin_key, "AdminKey"),
        permissions.secret_read(jwt_secret, "JwtSigningSecret"),
        permissions.secret_read(metrics_token, "MetricsToken"),
    ]


def _stream_reads(data: DataStores) -> list[iam.PolicyStatement]:
    return [
        permissions.table_stream_read(data.table(definition), definition)
        for definition in schema.TABLES
        if definition.stream_view
    ]


def _consume_and_resend(data: DataStores, definition: schema.QueueDefinition) -> list[iam.PolicyStatement]:
    # Consumers that put a message back on their own queue with a delay (a retry, a re-chain).
    queue = data.queue(definition)
    return [
        permissions.queue_consume(queue, definition.logical_id),
        permissions.queue_send(queue, definition.logical_id),
    ]


def dispatcher_statements(
    data: DataStores, stream_failures: sqs.IQueue, arming: ScheduleArming
) -> list[iam.PolicyStatement]:
    dispatch = schema.DISPATCH_QUEUE
    lambda_workers = schema.LAMBDA_WORKER_QUEUE
    fires = schema.SCHEDULE_FIRE_QUEUE
    deliveries = schema.WEBHOOK_DELIVERY_QUEUE
    return [
        *_all_tables(data),
        *_stream_reads(data),
        *_all_buckets(data, PAYLOAD_OBJECT_ACTIONS),
        permissions.queue_consume(data.queue(dispatch), dispatch.logical_id),
        # Timers longer than SQS's 900 s delay limit are re-chained as a new delayed message.
        permissions.queue_send(data.queue(dispatch), dispatch.logical_id),
        # Where Lambda records stream batches that kept failing (the mapping's on-failure destination).
        permissions.queue_send(stream_failures, "StreamFailures"),
        # The sweep starts Lambda-worker jobs by queueing them for the invoker.
        permissions.queue_send(data.queue(lambda_workers), lambda_workers.logical_id),
        # Schedule changes arm the next fire: a near one as a delayed message, a far one as a
        # one-time EventBridge schedule that sends to the same queue with the role it passes.
        permissions.queue_send(data.queue(fires), fires.logical_id),
        *arming.dispatcher_statements(),
        # Outgoing webhooks: one delivery message per subscribed endpoint and event.
        permissions.queue_send(data.queue(deliveries), deliveries.logical_id),
    ]


def scheduler_statements(data: DataStores) -> list[iam.PolicyStatement]:
    return [
        *_all_tables(data),
        *_all_buckets(data, PAYLOAD_OBJECT_ACTIONS),
        # Fires come in from the queue; one still too far for SQS's delay goes back with the rest.
        *_consume_and_resend(data, schema.SCHEDULE_FIRE_QUEUE),
    ]


def webhooks_statements(data: DataStores) -> list[iam.PolicyStatement]:
    # No bucket and no secret: a delivery message carries its event, the table the endpoint's
    # URL and signing secret. Retries go back to the queue with the backoff as delay.
    return [
        *_all_tables(data, WEBHOOK_SENDER_WRITES),
        *_consume_and_resend(data, schema.WEBHOOK_DELIVERY_QUEUE),
    ]


def live_updates_statements(
    data: DataStores,
    stream_failures: sqs.IQueue,
    jwt_secret: secretsmanager.ISecret,
    connections: list[iam.PolicyStatement],
) -> list[iam.PolicyStatement]:
    return [
        *_all_tables(data, LIVE_UPDATES_WRITES),
        *_stream_reads(data),
        permissions.queue_send(stream_failures, "StreamFailures"),
        # $connect accepts the JWTs /auth/login issues, verified with the API's signing key.
        permissions.secret_read(jwt_secret, "JwtSigningSecret"),
        *connections,
    ]


def lambda_invoker_statements(data: DataStores, stack: cdk.Stack, prefix: str) -> list[iam.PolicyStatement]:
    lambda_workers = schema.LAMBDA_WORKER_QUEUE
    return [
        *_all_tables(data),
        *_all_buckets(data, PAYLOAD_OBJECT_ACTIONS),
        permissions.queue_consume(data.queue(lambda_workers), lambda_workers.logical_id),
        # After a job settles, the invoker queues the next one of its queue itself.
        permissions.queue_send(data.queue(lambda_workers), lambda_workers.logical_id),
        permissions.function_invoke_by_prefix(stack, prefix),
    ]


def object_wildcard_findings() -> list[str]:
    findings: list[str] = []
    for definition in schema.BUCKETS:
        findings.extend(permissions.object_wildcard_findings(definition))
    return findings
