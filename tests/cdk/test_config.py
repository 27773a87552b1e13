"""Context settings: `retain` decides what survives `cdk destroy`; bad values fail the synth early.

These build a bare stack with only the data stores, so they need no Lambda bundle and add well
under a second to the session's one full synth.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from shared.plumbing import schema
from stacks.config import StackConfig
from stacks.data import DataStores


def _config(**context: Any) -> StackConfig:
    return StackConfig.from_context(cdk.App(context=context).node)


def _data_template(config: StackConfig) -> dict[str, Any]:
    stack = cdk.Stack(cdk.App(), "Data")
    DataStores(stack, "Data", config=config)
    return Template.from_stack(stack).to_json()


def test_defaults_keep_data() -> None:
    assert _config() == StackConfig(retain=True, log_retention_days=30, log_level="INFO")


def test_front_door_is_on_and_the_account_logging_role_off_unless_switched() -> None:
    # The logging role is an account-wide singleton: owning it is opt-in (docs/deploy.md).
    assert _config().front_door is True and _config().apigateway_cloudwatch_role is False
    switched = _config(front_door="false", apigateway_cloudwatch_role=True)
    assert switched.front_door is False and switched.apigateway_cloudwatch_role is True


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("false", False), ("False", False), ("1", True)]
)
def test_retain_accepts_cdk_json_booleans_and_cli_strings(value: Any, expected: bool) -> None:
    assert _config(retain=value).retain is expected


@pytest.mark.parametrize(
    "context",
    [
        {"retain": "maybe"},
        {"log_retention_days": 10},
        {"log_level": "LOUD"},
        {"front_door": "sometimes"},
        {"apigateway_cloudwatch_role": "perhaps"},
    ],
)
def test_invalid_context_is_rejected(context: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _config(**context)


def test_retain_false_lets_destroy_delete_the_data() -> None:
    resources = _data_template(StackConfig(retain=False))["Resources"]
    for table in schema.TABLES:
        assert resources[table.logical_id]["DeletionPolicy"] == "Delete"
        assert resources[table.logical_id]["Properties"]["DeletionProtectionEnabled"] is False
    for bucket in schema.BUCKETS:
        assert resources[bucket.logical_id]["DeletionPolicy"] == "Delete"
