"""Reading a synthesized template: IAM statements, resources rendered as readable text, and the
permission sets the stack's roles are expected to hold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.plumbing import schema
from tests.cdk.conftest import Synthesized

# Resource types whose properties hold identity or resource policy documents.
POLICY_PROPERTIES = {
    "AWS::IAM::Role": ("Policies",),
    "AWS::IAM::Policy": ("PolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::SecretsManager::ResourcePolicy": ("ResourcePolicy",),
}
IDENTITY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """A resource expression as text: {"Fn::GetAtt": ["JobsTable", "Arn"]} -> "JobsTable.Arn"."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return str(argument)
        if function == "Fn::GetAtt":
            return ".".join(as_list(argument))
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


def policy_statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every permission statement of a resource (a role's trust policy is not a permission)."""
    properties = resource.get("Properties", {})
    for key in POLICY_PROPERTIES.get(resource["Type"], ()):
        documents = properties.get(key)
        if documents is None:
            continue
        if key == "Policies":
            documents = [policy["PolicyDocument"] for policy in documents]
        for document in as_list(documents):
            yield from as_list(document["Statement"])


def permissions(resource: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, rendered resource) pairs an identity policy allows."""
    pairs: set[tuple[str, str]] = set()
    for statement in policy_statements(resource):
        assert statement["Effect"] == "Allow", statement
        for action in as_list(statement["Action"]):
            for target in as_list(statement["Resource"]):
                pairs.add((action, render(target)))
    return pairs


# --- what the stack's roles are expected to hold (shared by the test modules) --------------------

# The store's item actions on the table; transactions need ConditionCheckItem (IAM has no
# TransactWriteItems action).
TABLE_ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}
STREAM_READ_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}
QUEUE_CONSUME_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
}


def table_permissions(definition: schema.TableDefinition) -> set[tuple[str, str]]:
    table = f"{definition.logical_id}.Arn"
    pairs = {(action, table) for action in TABLE_ITEM_ACTIONS}
    pairs.add(("dynamodb:Query", table))
    pairs |= {("dynamodb:Query", f"{table}/index/{index.name}") for index in definition.indexes}
    return pairs


def all_table_permissions() -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for definition in schema.TABLES:
        pairs |= table_permissions(definition)
    return pairs


def stream_permissions() -> set[tuple[str, str]]:
    return {
        (action, f"{table.logical_id}.StreamArn")
        for table in schema.TABLES
        if table.stream_view
        for action in STREAM_READ_ACTIONS
    }


def object_permissions(actions: set[str]) -> set[tuple[str, str]]:
    return {
        (action, f"{bucket.logical_id}.Arn/{prefix}*")
        for bucket in schema.BUCKETS
        for prefix in bucket.prefixes
        for action in actions
    }


def consume_permissions(definition: schema.QueueDefinition) -> set[tuple[str, str]]:
    return {(action, f"{definition.logical_id}.Arn") for action in QUEUE_CONSUME_ACTIONS}


def send_permission(definition: schema.QueueDefinition) -> tuple[str, str]:
    return ("sqs:SendMessage", f"{definition.logical_id}.Arn")


def function_of(synthesized: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of a ServiceFunction's Lambda function, by construct id."""
    return synthesized.by_path(f"{name}/Function/Resource")


# Active tracing: Lambda sends the function's segments with its role; X-Ray has no resource-level
# permissions for these, so "*" (cdk-nag IAM5 acknowledged per role in stacks/functions.py).
TRACE_PERMISSIONS = {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}


def log_permissions(synthesized: Synthesized, name: str) -> set[tuple[str, str]]:
    """What every function's role has: writes to its own log group, and its traces."""
    log_group, _ = synthesized.by_path(f"{name}/Logs/Resource")
    logs = {("logs:CreateLogStream", f"{log_group}.Arn"), ("logs:PutLogEvents", f"{log_group}.Arn")}
    return logs | TRACE_PERMISSIONS


def mappings_of(synthesized: Synthesized, function: str) -> dict[str, dict[str, Any]]:
    """A function's event source mappings by rendered source ARN ("JobsTable.StreamArn", ...)."""
    return {
        render(m["Properties"]["EventSourceArn"]): m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function}
    }


def statements_with_action(resource: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in policy_statements(resource) if action in as_list(s["Action"])]
