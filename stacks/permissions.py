"""IAM statements: exact actions on exact resources, one builder per kind of access.

The functions' roles take only these statements; CDK's grant helpers are not used because they
add actions our code never calls (sqs:GetQueueUrl, dynamodb:DescribeTable, ...), dynamodb:ListStreams
on "*" and `index/*` wildcards. tests/cdk/test_stack.py checks the outcome role by role.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from shared.plumbing import schema

# What the store does with items: single-item reads and conditional writes, batch reads/writes,
# and transactions (job + idempotency claim). TransactWriteItems has no IAM action of its own
# (cfn-lint W3037 rejects it): IAM authorizes each member as the Put/Update/Delete/ConditionCheck
# it is, so ConditionCheckItem is what a transaction's condition-only member needs.
TABLE_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
TABLE_QUERY_ACTIONS = ("dynamodb:Query",)
TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem")
TABLE_WRITE_ACTIONS = tuple(action for action in TABLE_ITEM_ACTIONS if action not in TABLE_READ_ACTIONS)
# What a Lambda event source mapping needs to poll a stream. AWS documents ListStreams on the
# stream ARN (DynamoDB developer guide, "IAM policy to allow a Lambda function to access DynamoDB
# stream records"), so it needs no "*" resource.
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
# What a Lambda SQS event source mapping calls on the function's behalf.
QUEUE_CONSUME_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)
QUEUE_SEND_ACTIONS = ("sqs:SendMessage",)
# The log group exists (the stack creates it), so no logs:CreateLogGroup.
LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def _sid(*parts: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in parts)


def index_arns(table: dynamodb.Table, definition: schema.TableDefinition) -> list[str]:
    # Each index by name rather than `index/*`: no wildcard, and a new index needs a new grant.
    return [f"{table.table_arn}/index/{index.name}" for index in definition.indexes]


def table_items(
    table: dynamodb.Table,
    definition: schema.TableDefinition,
    writable_prefixes: tuple[str, ...] | None = None,
) -> list[iam.PolicyStatement]:
    """Item reads and queries on the table and its indexes, and item writes: on every item, or, with
    `writable_prefixes`, only on items whose partition key starts with one of them (an IAM
    condition on dynamodb:LeadingKeys, which every key of a write request must meet)."""
    if writable_prefixes is None:
        items = [
            iam.PolicyStatement(
                sid=_sid(definition.logical_id, "Items"),
                actions=list(TABLE_ITEM_ACTIONS),
                resources=[table.table_arn],
            )
        ]
    else:
        items = [
            iam.PolicyStatement(
                sid=_sid(definition.logical_id, "ItemReads"),
                actions=list(TABLE_READ_ACTIONS),
                resources=[table.table_arn],
            ),
            iam.PolicyStatement(
                sid=_sid(definition.logical_id, "ItemWrites"),
                actions=list(TABLE_WRITE_ACTIONS),
                resources=[table.table_arn],
                conditions={
                    "ForAllValues:StringLike": {
                        "dynamodb:LeadingKeys": [f"{prefix}*" for prefix in writable_prefixes]
                    }
                },
            ),
        ]
    return [
        *items,
        iam.PolicyStatement(
            sid=_sid(definition.logical_id, "Query"),
            actions=list(TABLE_QUERY_ACTIONS),
            resources=[table.table_arn, *index_arns(table, definition)],
        ),
    ]


def table_stream_read(table: dynamodb.Table, definition: schema.TableDefinition) -> iam.PolicyStatement:
    stream_arn = table.table_stream_arn
    if stream_arn is None:
        raise ValueError(f"{definition.logical_id} has no stream (schema stream_view is None)")
    return iam.PolicyStatement(
        sid=_sid(definition.logical_id, "Stream"),
        actions=list(STREAM_READ_ACTIONS),
        resources=[stream_arn],
    )


def queue_consume(queue: sqs.IQueue, name: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=_sid(name, "Consume"), actions=list(QUEUE_CONSUME_ACTIONS), resources=[queue.queue_arn]
    )


def queue_send(queue: sqs.IQueue, name: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=_sid(name, "Send"), actions=list(QUEUE_SEND_ACTIONS), resources=[queue.queue_arn]
    )


def object_arns(bucket: s3.IBucket, definition: schema.BucketDefinition) -> list[str]:
    return [bucket.arn_for_objects(f"{prefix}*") for prefix in definition.prefixes]


def object_wildcard_findings(definition: schema.BucketDefinition) -> list[str]:
    """The cdk-nag IAM5 finding ids that object_access() causes (data.py pins the logical id)."""
    return [
        f"AwsSolutions-IAM5[Resource::<{definition.logical_id}.Arn>/{prefix}*]"
        for prefix in definition.prefixes
    ]


def object_access(
    bucket: s3.IBucket, definition: schema.BucketDefinition, actions: tuple[str, ...]
) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=_sid(definition.logical_id, "Objects"),
        actions=list(actions),
        resources=object_arns(bucket, definition),
    )


def secret_read(secret: secretsmanager.ISecret, name: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=_sid(name, "Read"), actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]
    )


def log_writes(log_group: logs.ILogGroup) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="OwnLogGroup", actions=list(LOG_WRITE_ACTIONS), resources=[log_group.log_group_arn]
    )


# Active tracing: the Lambda service sends the function's segments with the function's role. X-Ray
# has no resource-level permissions for these two actions, so "*" is the only resource there is.
TRACE_WRITE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


def trace_writes() -> iam.PolicyStatement:
    return iam.PolicyStatement(sid="ActiveTracing", actions=list(TRACE_WRITE_ACTIONS), resources=["*"])


def function_invoke(function: lambda_.IFunction, name: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=_sid(name, "Invoke"), actions=["lambda:InvokeFunction"], resources=[function.function_arn]
    )


def function_invoke_by_prefix(scope_stack: cdk.Stack, prefix: str) -> iam.PolicyStatement:
    # Customers' worker functions do not exist when the stack is deployed; the name prefix is the
    # narrowest resource that still lets a queue name its worker later.
    arn = f"arn:{scope_stack.partition}:lambda:{scope_stack.region}:{scope_stack.account}:function:{prefix}*"
    return iam.PolicyStatement(sid="LambdaWorkersInvoke", actions=["lambda:InvokeFunction"], resources=[arn])


# EventBridge Scheduler calls the dispatcher makes to arm, move and disarm a far cron fire (it
# never reads a schedule back: updates are blind upserts).
SCHEDULE_ACTIONS = (
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
)
# @connections: POST sends a frame to one connection, DELETE closes it (a revoked key's sockets).
CONNECTION_METHODS = ("POST", "DELETE")


def schedules_in_group(scope_stack: cdk.Stack, group_name: str) -> str:
    """Every schedule of one group: the names are generated per fire, so no narrower ARN exists."""
    return (
        f"arn:{scope_stack.partition}:scheduler:{scope_stack.region}:{scope_stack.account}"
        f":schedule/{group_name}/*"
    )


def schedule_management(schedules_arn: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="ScheduleGroupSchedules", actions=list(SCHEDULE_ACTIONS), resources=[schedules_arn]
    )


def pass_role_to(role: iam.IRole, name: str, service: str) -> iam.PolicyStatement:
    # Only to the one service that assumes it: the role cannot be handed to anything else.
    return iam.PolicyStatement(
        sid=_sid(name, "Pass"),
        actions=["iam:PassRole"],
        resources=[role.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": service}},
    )


def connection_arns(scope_stack: cdk.Stack, api_id: str, stage_name: str) -> list[str]:
    """The @connections resources of one WebSocket stage; connection ids are assigned per client."""
    prefix = f"arn:{scope_stack.partition}:execute-api:{scope_stack.region}:{scope_stack.account}:{api_id}"
    return [f"{prefix}/{stage_name}/{method}/@connections/*" for method in CONNECTION_METHODS]


def manage_connections(arns: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="WebSocketConnections", actions=["execute-api:ManageConnections"], resources=arns
    )
