"""Live updates: the WebSocket API, its logged and throttled stage, and the function behind it."""

from __future__ import annotations

import json
from typing import Any

from shared.plumbing import schema
from stacks.live_updates import STAGE_NAME
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import (
    all_table_permissions,
    function_of,
    log_permissions,
    mappings_of,
    permissions,
    render,
    stream_permissions,
)

WS_API = "LiveUpdatesWebSocketApi"  # pinned logical id
LIVE_ROUTES = {"$connect", "$disconnect", "$default"}


def _ws_routes(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["ApiId"] == {"Ref": WS_API}
    }


def test_websocket_api_routes_all_go_to_the_live_updates_function(synthesized: Synthesized) -> None:
    live, _ = function_of(synthesized, "LiveUpdates")
    api = synthesized.resources[WS_API]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    routes = _ws_routes(synthesized)
    assert set(routes) == LIVE_ROUTES
    integrations = synthesized.of_type("AWS::ApiGatewayV2::Integration")
    for key, route in routes.items():
        assert route["AuthorizationType"] == "NONE", key  # $connect checks ?token= (APIG4 acknowledged)
        integration = integrations[route["Target"]["Fn::Join"][1][1]["Ref"]]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert render(integration["IntegrationUri"]).endswith(f"functions/{live}.Arn/invocations")
    # API Gateway may invoke the function for exactly these three routes of this API.
    invokable = {
        render(p["Properties"]["SourceArn"]).rsplit("/", 1)[1]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [live, "Arn"]}
    }
    assert invokable == {f"*{key}" for key in LIVE_ROUTES}


def test_routes_send_nothing_back_themselves(synthesized: Synthesized) -> None:
    # The function posts its replies (the Ping frame) to the connection; a route response would
    # also send the integration's return value, a second, empty or {"statusCode":200} frame.
    assert not synthesized.of_type("AWS::ApiGatewayV2::RouteResponse")
    for key, route in _ws_routes(synthesized).items():
        assert "RouteResponseSelectionExpression" not in route, key


def test_stage_logs_without_query_strings_and_is_throttled(synthesized: Synthesized) -> None:
    stage_id, stage = synthesized.by_path("Live/Stage/Resource")
    access_logs, _ = synthesized.by_path("Live/AccessLogs/Resource")
    props = stage["Properties"]
    assert props["ApiId"] == {"Ref": WS_API}
    assert props["StageName"] == STAGE_NAME
    assert props["AutoDeploy"] is True
    assert props["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [access_logs, "Arn"]}
    logged = json.loads(props["AccessLogSettings"]["Format"])
    assert {"requestId", "connectionId", "eventType", "routeKey", "status"} <= set(logged)
    # The query string carries the client's API key or JWT: no variable may log it.
    assert not any("query" in value.lower() or "path" in value.lower() for value in logged.values())
    throttling = props["DefaultRouteSettings"]
    assert 0 < throttling["ThrottlingRateLimit"] <= throttling["ThrottlingBurstLimit"]
    assert synthesized.resources[access_logs]["Properties"]["RetentionInDays"] == 30
    # Created after the routes (an auto-deployed stage without routes fails); the dependency on
    # the account's logging setting, when the stack owns it, is in test_deploy_readiness.py.
    depends_on = set(synthesized.resources[stage_id]["DependsOn"])
    route_ids = {
        logical_id
        for logical_id, r in synthesized.of_type("AWS::ApiGatewayV2::Route").items()
        if r["Properties"]["ApiId"] == {"Ref": WS_API}
    }
    assert route_ids <= depends_on


def test_live_updates_function_reads_the_stream_second_and_gives_up_stale_records(
    synthesized: Synthesized,
) -> None:
    live, _ = function_of(synthesized, "LiveUpdates")
    failures, _ = synthesized.by_path("StreamFailureQueue/Resource")
    mappings = mappings_of(synthesized, live)
    assert set(mappings) == {f"{schema.JOBS_TABLE.logical_id}.StreamArn"}
    (stream,) = mappings.values()
    assert stream["StartingPosition"] == "LATEST"
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert 0 < stream["MaximumRetryAttempts"] <= 5
    assert 60 <= stream["MaximumRecordAgeInSeconds"] <= 900
    assert stream["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failures, "Arn"]}}}
    # DynamoDB Streams allow two readers per shard: the dispatcher and this function, no third.
    readers = [
        m for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if render(m["Properties"]["EventSourceArn"]).endswith(".StreamArn")
    ]  # fmt: skip
    assert len(readers) == 2


def test_live_updates_function_finds_its_callback_url_and_jwt_key(synthesized: Synthesized) -> None:
    _, function = function_of(synthesized, "LiveUpdates")
    variables = function["Properties"]["Environment"]["Variables"]
    callback = render(variables[schema.WS_CALLBACK_URL_ENV])
    assert callback == f"https://{WS_API}.execute-api.AWS::Region.AWS::URLSuffix/{STAGE_NAME}"
    jwt_secret, _ = synthesized.by_path("JwtSigningSecret/Resource")
    assert variables["SPOOLED_JWT_SECRET_ARN"] == {"Ref": jwt_secret}
    assert "SPOOLED_ADMIN_KEY_SECRET_ARN" not in variables
    # A route call must end before API Gateway's 29 s; a stream batch may take longer.
    assert 29 <= function["Properties"]["Timeout"] <= 120


def test_live_updates_role_has_exactly_its_permissions(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("LiveUpdates/Role/Resource")
    failures, _ = synthesized.by_path("StreamFailureQueue/Resource")
    jwt_secret, _ = synthesized.by_path("JwtSigningSecret/Resource")
    connections = f"arn:AWS::Partition:execute-api:AWS::Region:AWS::AccountId:{WS_API}/{STAGE_NAME}"
    expected = log_permissions(synthesized, "LiveUpdates") | all_table_permissions() | stream_permissions()
    expected |= {
        ("sqs:SendMessage", f"{failures}.Arn"),
        ("secretsmanager:GetSecretValue", jwt_secret),
        ("execute-api:ManageConnections", f"{connections}/POST/@connections/*"),
        ("execute-api:ManageConnections", f"{connections}/DELETE/@connections/*"),
    }
    assert permissions(role) == expected


def test_dashboard_shows_websocket_traffic_and_errors(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = render(dashboard["Properties"]["DashboardBody"])
    for metric in ("ConnectCount", "MessageCount", "ClientError", "IntegrationError", "ExecutionError"):
        assert f'"AWS/ApiGateway","{metric}","ApiId","{WS_API}"' in body, metric
