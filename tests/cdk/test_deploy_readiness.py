"""What a first deploy in a real account would trip on (issue 16), pinned in the template.

Most checks read the default synth; the ones about the account's API Gateway logging role read
the `switched` synth, where the stack owns that role (context apigateway_cloudwatch_role=true).
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.plumbing import schema
from stacks.api import CORS_PARAMETER, RESERVED_CONCURRENCY_PARAMETER
from stacks.front_door import CACHED_ERROR_CODES
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import function_of, permissions, render

WS_API = "LiveUpdatesWebSocketApi"
# The $context variables AWS documents for WebSocket access logs that the stage may use (a subset:
# those that name no query string or path, which carry tokens). $context.integrationStatus is an
# HTTP API variable and is not among them.
WEBSOCKET_LOG_VARIABLES = {
    "requestId",
    "requestTime",
    "identity.sourceIp",
    "eventType",
    "routeKey",
    "connectionId",
    "status",
    "integration.status",
    "integration.error",
    "integration.integrationStatus",
    "integration.latency",
    "integrationLatency",
    "error.message",
}


# --- 1 and 4: the account's API Gateway logging role --------------------------------------------


def test_logging_role_setting_is_left_alone_by_default(synthesized: Synthesized) -> None:
    # An account-wide singleton (landing zones set their own, two stacks would fight over it).
    assert not synthesized.of_type("AWS::ApiGateway::Account")
    trusted = {
        r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        for r in synthesized.of_type("AWS::IAM::Role").values()
    }
    assert "apigateway.amazonaws.com" not in trusted
    _, stage = synthesized.by_path("Live/Stage/Resource")
    assert "AccessLogSettings" in stage["Properties"]  # needs the setting: docs/deploy.md, one-time setup


def test_owned_account_setting_waits_for_an_api_gateway_resource(switched: Synthesized) -> None:
    account_id, account = switched.by_path("ApiGatewayLogging/Account")
    # In an account that never had an API Gateway resource, the setting fails unless one exists first.
    assert WS_API in account["DependsOn"]
    stage_id, _ = switched.by_path("Live/Stage/Resource")
    assert account_id in switched.resources[stage_id]["DependsOn"]


def test_owned_logging_role_may_only_write_logs(switched: Synthesized) -> None:
    role_id, role = switched.by_path("ApiGatewayLogging/Role/Resource")
    _, account = switched.by_path("ApiGatewayLogging/Account")
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    log_groups = "arn:AWS::Partition:logs:AWS::Region:AWS::AccountId:log-group:*"
    actions = ("CreateLogGroup", "CreateLogStream", "DescribeLogGroups", "DescribeLogStreams", "PutLogEvents")
    assert permissions(role) == {(f"logs:{action}", log_groups) for action in actions}
    assert role["DeletionPolicy"] == "Retain"  # the account setting outlives the stack


# --- 3: CloudFront caches no error ----------------------------------------------------------------


def test_cloudfront_caches_no_error_response(synthesized: Synthesized) -> None:
    (distribution,) = synthesized.of_type("AWS::CloudFront::Distribution").values()
    responses = distribution["Properties"]["DistributionConfig"]["CustomErrorResponses"]
    assert {r["ErrorCode"] for r in responses} == set(CACHED_ERROR_CODES)
    for response in responses:
        # 0 s, and the API's own error body and status pass through (no error page).
        assert response == {"ErrorCode": response["ErrorCode"], "ErrorCachingMinTTL": 0}
    # Every 4xx/5xx CloudFront would cache at all (the others are never cached).
    assert set(CACHED_ERROR_CODES) == {400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}


# --- 5: the dispatcher's room, and no retries of scheduled invocations ----------------------------


def test_dispatcher_has_room_for_a_stream_batch_and_the_sweep(synthesized: Synthesized) -> None:
    _, dispatcher = function_of(synthesized, "Dispatcher")
    timeout = dispatcher["Properties"]["Timeout"]
    assert timeout >= 120
    # ...and the queue it also consumes keeps a message invisible six times that (AWS's advice).
    assert timeout * 6 <= schema.DISPATCH_QUEUE.visibility_timeout_seconds


def test_scheduled_invocations_are_not_retried(synthesized: Synthesized) -> None:
    configs = {
        render(c["Properties"]["FunctionName"]): c["Properties"]
        for c in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    targets = {
        render(s["Properties"]["Target"]["Arn"]).removesuffix(".Arn")
        for s in synthesized.of_type("AWS::Scheduler::Schedule").values()
    }
    assert targets  # the sweep
    for function in targets:
        assert configs[function]["MaximumRetryAttempts"] == 0, function
        assert configs[function]["MaximumEventAgeInSeconds"] <= 120


# --- 6: reserved concurrency for the API ----------------------------------------------------------


def test_api_reserved_concurrency_is_a_parameter_that_reserves_nothing_by_default(
    synthesized: Synthesized,
) -> None:
    parameter = synthesized.template["Parameters"][RESERVED_CONCURRENCY_PARAMETER]
    assert parameter["Type"] == "Number" and parameter["Default"] == 0 and parameter["MinValue"] == 0
    _, api = function_of(synthesized, "Api")
    reserved = api["Properties"]["ReservedConcurrentExecutions"]
    condition, value, otherwise = reserved["Fn::If"]
    assert value == {"Ref": RESERVED_CONCURRENCY_PARAMETER}
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert synthesized.template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": RESERVED_CONCURRENCY_PARAMETER}, "0"]}]
    }
    for name in ("Dispatcher", "LambdaInvoker", "Scheduler", "Webhooks", "LiveUpdates"):
        assert "ReservedConcurrentExecutions" not in function_of(synthesized, name)[1]["Properties"]


# --- the smaller ones -----------------------------------------------------------------------------


def test_payload_bucket_aborts_incomplete_uploads(synthesized: Synthesized) -> None:
    for definition in schema.BUCKETS:
        rules = synthesized.resources[definition.logical_id]["Properties"]["LifecycleConfiguration"]["Rules"]
        assert {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}, "Id": "AbortIncompleteUploads",
                "Status": "Enabled"} in rules  # fmt: skip
        # No age-based expiry of live objects: jobs (and so their payloads) have no TTL. The one
        # expiry rule selects orphans by their tag (tests/cdk/test_payload_lifecycle.py).
        expiring = [rule for rule in rules if "ExpirationInDays" in rule]
        assert [rule.get("TagFilters") for rule in expiring] == [
            [{"Key": "spooled-state", "Value": "uncommitted"}]
        ]


def test_cors_is_a_parameter_and_off_by_default(synthesized: Synthesized) -> None:
    parameter = synthesized.template["Parameters"][CORS_PARAMETER]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["Default"] == ""
    http_api, _ = synthesized.by_path("Http/HttpApi/Resource")
    condition, cors, otherwise = synthesized.resources[http_api]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert cors["AllowOrigins"] == {"Ref": CORS_PARAMETER}
    assert "Authorization" in cors["AllowHeaders"] and "X-Request-Id" in cors["ExposeHeaders"]
    assert synthesized.template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": CORS_PARAMETER}]}, ""]}]
    }


def test_websocket_access_log_uses_websocket_variables(synthesized: Synthesized) -> None:
    _, stage = synthesized.by_path("Live/Stage/Resource")
    logged: dict[str, Any] = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    used = {name for value in logged.values() for name in re.findall(r"\$context\.([A-Za-z.]+)", value)}
    assert used <= WEBSOCKET_LOG_VARIABLES, used - WEBSOCKET_LOG_VARIABLES
    assert "integration.status" in used
