"""The deployed stack and the local stack (`make dev`) build the same resources from
shared/plumbing/schema.py.

Both read the schema, so drift means one side stopped reading a field: these tests compare what
each side actually produces, the synthesized template against local_stack's CreateTable arguments
and against the queues it creates in moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack.resources import create_all, table_create_args
from shared.plumbing import schema
from tests.cdk.conftest import Synthesized


def _index_shape(index: dict[str, Any]) -> tuple[Any, ...]:
    projection = index["Projection"]
    return (
        json.dumps(index["KeySchema"], sort_keys=True),
        projection["ProjectionType"],
        tuple(sorted(projection.get("NonKeyAttributes", []))),
    )


@pytest.fixture(scope="module")
def local_resources() -> Iterator[tuple[Any, dict[str, str]]]:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        yield session, create_all(session)


@pytest.mark.parametrize("definition", schema.TABLES, ids=lambda t: t.logical_id)
def test_table_agrees_with_local_stack(synthesized: Synthesized, definition: schema.TableDefinition) -> None:
    local = table_create_args(definition)
    deployed = synthesized.resources[definition.logical_id]["Properties"]
    assert deployed["KeySchema"] == local["KeySchema"]
    assert deployed["BillingMode"] == local["BillingMode"]

    def attributes(args: dict[str, Any]) -> set[tuple[str, str]]:
        return {(a["AttributeName"], a["AttributeType"]) for a in args["AttributeDefinitions"]}

    assert attributes(deployed) == attributes(local)
    deployed_indexes = {i["IndexName"]: _index_shape(i) for i in deployed.get("GlobalSecondaryIndexes", [])}
    local_indexes = {i["IndexName"]: _index_shape(i) for i in local.get("GlobalSecondaryIndexes", [])}
    assert deployed_indexes == local_indexes
    deployed_stream = deployed.get("StreamSpecification", {}).get("StreamViewType")
    local_stream = local.get("StreamSpecification", {}).get("StreamViewType")
    assert deployed_stream == local_stream


@pytest.mark.parametrize("definition", schema.TABLES, ids=lambda t: t.logical_id)
def test_table_ttl_agrees_with_local_stack(
    synthesized: Synthesized, local_resources: tuple[Any, dict[str, str]], definition: schema.TableDefinition
) -> None:
    session, _ = local_resources
    described = session.client("dynamodb").describe_time_to_live(TableName=definition.local_name)
    local = described["TimeToLiveDescription"]
    deployed = synthesized.resources[definition.logical_id]["Properties"].get("TimeToLiveSpecification")
    if deployed is None:
        assert local.get("TimeToLiveStatus", "DISABLED") == "DISABLED"
    else:
        assert local["TimeToLiveStatus"] == "ENABLED"
        assert local["AttributeName"] == deployed["AttributeName"]


@pytest.mark.parametrize("definition", schema.QUEUES, ids=lambda q: q.logical_id)
def test_queue_agrees_with_local_stack(
    synthesized: Synthesized, local_resources: tuple[Any, dict[str, str]], definition: schema.QueueDefinition
) -> None:
    session, env = local_resources
    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=env[definition.env_var], AttributeNames=["All"]
    )["Attributes"]
    local_redrive = json.loads(attributes["RedrivePolicy"])
    deployed = synthesized.resources[definition.logical_id]["Properties"]
    assert int(attributes["VisibilityTimeout"]) == deployed["VisibilityTimeout"]
    assert int(attributes["MessageRetentionPeriod"]) == deployed["MessageRetentionPeriod"]
    assert int(local_redrive["maxReceiveCount"]) == deployed["RedrivePolicy"]["maxReceiveCount"]
    assert local_redrive["deadLetterTargetArn"].endswith(":" + definition.dead_letter_local_name)
    assert deployed["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [definition.dead_letter_logical_id, "Arn"]
    }


def test_functions_get_the_variables_the_local_stack_sets(
    synthesized: Synthesized, local_resources: tuple[Any, dict[str, str]]
) -> None:
    _, env = local_resources
    for function in synthesized.of_type("AWS::Lambda::Function").values():
        assert set(env) <= set(function["Properties"]["Environment"]["Variables"])


def test_schedules_are_armed_in_a_group_that_sends_to_the_fire_queue_on_both_sides(
    synthesized: Synthesized, local_resources: tuple[Any, dict[str, str]]
) -> None:
    session, env = local_resources
    fires = schema.SCHEDULE_FIRE_QUEUE
    local_group = session.client("scheduler").get_schedule_group(Name=env[schema.SCHEDULE_GROUP_ENV])
    assert local_group["State"] == "ACTIVE"
    assert env[schema.SCHEDULE_QUEUE_ARN_ENV].endswith(":" + fires.local_name)
    (group_id,) = synthesized.of_type("AWS::Scheduler::ScheduleGroup")
    for function in synthesized.of_type("AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables[schema.SCHEDULE_GROUP_ENV] == {"Ref": group_id}
        assert variables[schema.SCHEDULE_QUEUE_ARN_ENV] == {"Fn::GetAtt": [fires.logical_id, "Arn"]}
