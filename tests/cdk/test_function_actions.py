"""Every AWS API action each function's code can call, read from the code, against its role.

A missing action only shows in AWS, as AccessDenied on the one code path that needs it (a large
payload deleted after a cancelled create, say): too late. tests/cdk/code_actions.py walks the
imports from each function's handler, as the template names it, and collects the boto3 calls the
handler can reach; nothing here names a module path, so a reorganisation of shared/ needs no edit.
"""

from __future__ import annotations

import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.cdk.code_actions import Analysis, analyze
from tests.cdk.conftest import REPO_ROOT, Synthesized
from tests.cdk.template_tools import (
    QUEUE_CONSUME_ACTIONS,
    STREAM_READ_ACTIONS,
    mappings_of,
    permissions,
    render,
)

# What each function's code calls, as IAM actions. A new AWS call needs a line here (and, if its
# role lacks it, a grant in stacks/roles.py): reviewed like a new cdk-nag acknowledgment.
TABLE_READS_AND_WRITES = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",  # a transaction's condition-only member
    "dynamodb:Query",
}
# PutObjectTagging: objects are written tagged (PutObject with Tagging) and re-tagged on commit.
PAYLOAD_OBJECTS = {"s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"}
EXPECTED_CALLS: dict[str, set[str]] = {
    "Api": TABLE_READS_AND_WRITES
    | {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "secretsmanager:GetSecretValue"}
    | PAYLOAD_OBJECTS,
    "Dispatcher": TABLE_READS_AND_WRITES
    | {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "sqs:SendMessage"}
    | PAYLOAD_OBJECTS
    | {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule", "iam:PassRole"},
    "LambdaInvoker": {"dynamodb:GetItem", "sqs:SendMessage", "lambda:InvokeFunction"} | PAYLOAD_OBJECTS,
    "Scheduler": TABLE_READS_AND_WRITES
    | {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "sqs:SendMessage"}
    | PAYLOAD_OBJECTS,
    "Webhooks": TABLE_READS_AND_WRITES - {"dynamodb:Query"} | {"sqs:SendMessage"},
    "LiveUpdates": TABLE_READS_AND_WRITES
    | {"dynamodb:BatchGetItem", "secretsmanager:GetSecretValue", "execute-api:ManageConnections"},
}
# Granted without the code calling them: Lambda polls event sources and writes logs with the
# function's role (and sends failed stream batches to their on-failure queue, see below).
CALLED_BY_LAMBDA = (
    QUEUE_CONSUME_ACTIONS
    | STREAM_READ_ACTIONS
    | {"logs:CreateLogStream", "logs:PutLogEvents"}
    # Active tracing: the Lambda service sends the function's X-Ray segments (no SDK in the code).
    | {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
# Every store function gets the same table actions on purpose (stacks/roles.py says why), so only
# the other services are held to "granted only if called".
SHARED_GRANTS_PREFIXES = ("dynamodb:",)


@cache
def _analysis(handler: str) -> Analysis:
    module, _, function = handler.rpartition(".")
    return analyze(REPO_ROOT, module, function)


def _functions(synthesized: Synthesized) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Construct id ("Api") -> (function properties, its role), for every function of the stack."""
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for resource in synthesized.of_type("AWS::Lambda::Function").values():
        name = resource["Metadata"]["aws:cdk:path"].split("/")[1]
        role_id = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        found[name] = (resource["Properties"], synthesized.resources[role_id])
    return found


def _on_failure_destinations(synthesized: Synthesized, name: str) -> set[tuple[str, str]]:
    function_id = synthesized.by_path(f"{name}/Function/Resource")[0]
    return {
        ("sqs:SendMessage", render(m["DestinationConfig"]["OnFailure"]["Destination"]))
        for m in mappings_of(synthesized, function_id).values()
        if "DestinationConfig" in m
    }


def test_every_function_is_analysed(synthesized: Synthesized) -> None:
    assert set(_functions(synthesized)) == set(EXPECTED_CALLS)


@pytest.mark.parametrize("name", sorted(EXPECTED_CALLS))
def test_code_calls_exactly_the_reviewed_actions(synthesized: Synthesized, name: str) -> None:
    properties, _ = _functions(synthesized)[name]
    analysis = _analysis(properties["Handler"])
    assert not analysis.untraced, (
        f"calls the analysis could not trace to a client: {sorted(analysis.untraced)}"
    )
    where = "\n".join(sorted(f"  {c.service}.{c.method} at {c.where}" for c in analysis.calls))
    assert analysis.actions() == EXPECTED_CALLS[name], f"{name} calls:\n{where}"


@pytest.mark.parametrize("name", sorted(EXPECTED_CALLS))
def test_role_allows_every_action_its_code_calls(synthesized: Synthesized, name: str) -> None:
    properties, role = _functions(synthesized)[name]
    granted = {action for action, _ in permissions(role)}
    missing = _analysis(properties["Handler"]).actions() - granted
    assert not missing, f"{name}'s role lacks {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(EXPECTED_CALLS))
def test_role_grants_no_other_service_action(synthesized: Synthesized, name: str) -> None:
    properties, role = _functions(synthesized)[name]
    granted = permissions(role) - _on_failure_destinations(synthesized, name)
    called = _analysis(properties["Handler"]).actions() | CALLED_BY_LAMBDA
    unused = {(a, r) for a, r in granted if a not in called and not a.startswith(SHARED_GRANTS_PREFIXES)}
    assert not unused, f"{name}'s role grants what its code never calls: {sorted(unused)}"


# --- the analysis itself, on code written for it ----------------------------------------------------

SAMPLE = {
    "app/__init__.py": "",
    "app/clients.py": """
        def client(service):
            import boto3
            return boto3.client(service)
        """,
    "app/handler.py": """
        from . import store
        from app.clients import client

        def handler(event, context=None):
            client("sqs").send_message(QueueUrl="q", MessageBody="x")
            db = client("dynamodb")
            db.transact_write_items(TransactItems=[])
            store.Store().save()
            return store.helper()

        def never_called():
            client("sns").publish(Message="x")
        """,
    "app/store.py": """
        from app import clients
        from app import requests as rx

        class Invoker:
            def __init__(self):
                self._client = None

            def _lambda(self):
                if self._client is None:
                    import boto3
                    self._client = boto3.session.Session().client("lambda")
                return self._client

            def invoke(self, name):
                return self._lambda().invoke(FunctionName=name)

        class Store:
            def __init__(self, invoker: Invoker | None = None):
                self.invoker = invoker or Invoker()

            @property
            def _s3(self):
                return clients.client("s3")

            def save(self):
                self._s3.delete_object(**rx.delete_object("k"))
                self.invoker.invoke("f")

        def helper():
            return mystery.get_item(Key={})
        """,
    "app/requests.py": """
        def delete_object(key):
            return {"Bucket": "b", "Key": key}
        """,
}


def test_analysis_follows_every_way_of_holding_a_client(tmp_path: Path) -> None:
    for file, text in SAMPLE.items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(textwrap.dedent(text))
    analysis = analyze(tmp_path, "app.handler", "handler")
    assert {(c.service, c.method) for c in analysis.calls} == {
        ("sqs", "send_message"),  # a client called where it is made
        ("dynamodb", "transact_write_items"),  # through a variable
        ("lambda", "invoke"),  # through an attribute, returned by a method
        ("s3", "delete_object"),  # through a property; rx.delete_object is no call
    }
    assert analysis.actions() == {
        "sqs:SendMessage",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
        "lambda:InvokeFunction",
        "s3:DeleteObject",
    }
    # sns.publish is never reached from the handler; `mystery.get_item` looks like a DynamoDB call
    # on something the analysis cannot name, so it is reported instead of guessed.
    assert {method for method, _ in analysis.untraced} == {"get_item"}


def test_a_put_that_sets_tags_also_needs_the_tagging_action(tmp_path: Path) -> None:
    """IAM authorizes PutObject with x-amz-tagging as s3:PutObjectTagging too: the analysis reads
    the call's keywords, so a role granting only PutObject fails here, not in AWS."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app/__init__.py").write_text("")
    (tmp_path / "app/handler.py").write_text(
        textwrap.dedent(
            """
            import boto3

            def handler(event, context=None):
                boto3.client("s3").put_object(Bucket="b", Key="plain", Body=b"")
                if event:
                    boto3.client("s3").put_object(Bucket="b", Key="tagged", Body=b"", Tagging="a=b")
            """
        )
    )
    analysis = analyze(tmp_path, "app.handler", "handler")
    assert analysis.actions() == {"s3:PutObject", "s3:PutObjectTagging"}
    assert [sorted(c.keywords) for c in sorted(analysis.calls, key=lambda c: c.where)] == [
        ["Body", "Bucket", "Key"],
        ["Body", "Bucket", "Key", "Tagging"],
    ]
