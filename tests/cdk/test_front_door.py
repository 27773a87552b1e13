"""The front door: CloudFront in front of both APIs, the /api/v1/ws rewrite, and the URLs the stack
prints; and, with front_door=false (the `switched` synth), the same stack without CloudFront."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from stacks.front_door import WEBSOCKET_PATH
from stacks.live_updates import STAGE_NAME
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import function_of, render

WS_API = "LiveUpdatesWebSocketApi"
# Managed policies, by their fixed ids: CachingDisabled and AllViewerExceptHostHeader.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def _distribution(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = synthesized.of_type("AWS::CloudFront::Distribution").items()
    return found


def _origin_domains(config: dict[str, Any]) -> dict[str, str]:
    return {origin["Id"]: render(origin["DomainName"]) for origin in config["Origins"]}


def test_default_behavior_passes_every_api_call_to_the_http_api(synthesized: Synthesized) -> None:
    http_api, _ = synthesized.by_path("Http/HttpApi/Resource")
    _, distribution = _distribution(synthesized)
    config = distribution["Properties"]["DistributionConfig"]
    default = config["DefaultCacheBehavior"]
    assert _origin_domains(config)[default["TargetOriginId"]] == (
        f"{http_api}.execute-api.AWS::Region.AWS::URLSuffix"
    )
    assert set(default["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert default["CachePolicyId"] == CACHING_DISABLED
    assert default["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert default["Compress"] is False
    assert default["ViewerProtocolPolicy"] == "https-only"
    for origin in config["Origins"]:
        custom = origin["CustomOriginConfig"]
        assert custom["OriginProtocolPolicy"] == "https-only"
        assert custom["OriginSSLProtocols"] == ["TLSv1.2"]


def test_websocket_path_goes_to_the_websocket_stage(synthesized: Synthesized) -> None:
    _, distribution = _distribution(synthesized)
    config = distribution["Properties"]["DistributionConfig"]
    (behavior,) = config["CacheBehaviors"]
    assert behavior["PathPattern"] == WEBSOCKET_PATH
    assert (
        _origin_domains(config)[behavior["TargetOriginId"]]
        == f"{WS_API}.execute-api.AWS::Region.AWS::URLSuffix"
    )
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD"}  # the upgrade handshake is a GET
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST  # Sec-WebSocket-*, ?token=
    # No origin path: the viewer-request function replaces the whole URI instead.
    origin = next(o for o in config["Origins"] if o["Id"] == behavior["TargetOriginId"])
    assert origin.get("OriginPath", "") == ""
    (association,) = behavior["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    rewrite, _ = synthesized.by_path("Edge/WebSocketPath/Resource")
    assert association["FunctionARN"] == {"Fn::GetAtt": [rewrite, "FunctionARN"]}


def _run_cloudfront_function(code: str, event: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "Node.js runs the CDK CLI, so it is installed wherever these tests run"
    script = f"{code}\nprocess.stdout.write(JSON.stringify(handler({json.dumps(event)})));"
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(done.stdout)


def test_rewrite_sends_the_sdk_path_to_the_stage_root_and_keeps_the_token(synthesized: Synthesized) -> None:
    _, function = synthesized.by_path("Edge/WebSocketPath/Resource")
    props = function["Properties"]
    assert props["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    # What CloudFront hands the function for the SDK's wss://{host}/api/v1/ws?token=sp_live_x.
    event = {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "198.51.100.7"},
        "request": {
            "method": "GET",
            "uri": WEBSOCKET_PATH,
            "querystring": {"token": {"value": "sp_live_x"}, "queue": {"value": "emails"}},
            "headers": {"upgrade": {"value": "websocket"}, "sec-websocket-version": {"value": "13"}},
            "cookies": {},
        },
    }
    request = _run_cloudfront_function(props["FunctionCode"], event)
    assert request["uri"] == f"/{STAGE_NAME}"
    assert request["querystring"] == event["request"]["querystring"]
    assert request["headers"] == event["request"]["headers"]
    assert request["method"] == "GET"


def test_outputs_give_one_host_for_rest_websocket_and_dashboard(synthesized: Synthesized) -> None:
    distribution, _ = _distribution(synthesized)
    host = f"{distribution}.DomainName"
    outputs = {name: render(output["Value"]) for name, output in synthesized.template["Outputs"].items()}
    assert outputs["ApiUrl"] == f"https://{host}/"
    assert outputs["WebSocketUrl"] == f"wss://{host}{WEBSOCKET_PATH}"
    assert outputs["DashboardUrl"] == f"https://{host}/dashboard"
    assert outputs["WebSocketApiUrl"] == f"wss://{WS_API}.execute-api.AWS::Region.AWS::URLSuffix/{STAGE_NAME}"
    assert ".execute-api." in outputs["HttpApiUrl"]
    # The SDK derives its WebSocket URL from the base URL (https -> wss, plus /api/v1/ws).
    assert (
        outputs["WebSocketUrl"]
        == outputs["ApiUrl"].rstrip("/").replace("https://", "wss://") + WEBSOCKET_PATH
    )
    # Links the API hands out (inbound webhook URLs) name the same host.
    _, api = function_of(synthesized, "Api")
    assert render(api["Properties"]["Environment"]["Variables"]["EXTERNAL_URL"]) == f"https://{host}"


def test_without_front_door_the_apis_own_hosts_are_the_urls(switched: Synthesized) -> None:
    assert not switched.of_type("AWS::CloudFront::Distribution")
    assert not switched.of_type("AWS::CloudFront::Function")
    http_api, _ = switched.by_path("Http/HttpApi/Resource")
    outputs = {name: render(output["Value"]) for name, output in switched.template["Outputs"].items()}
    direct = f"https://{http_api}.execute-api.AWS::Region.AWS::URLSuffix"
    assert outputs["ApiUrl"] == f"{direct}/"
    assert outputs["DashboardUrl"] == f"{direct}/dashboard"
    assert outputs["WebSocketUrl"] == outputs["WebSocketApiUrl"]
    _, api = function_of(switched, "Api")
    assert render(api["Properties"]["Environment"]["Variables"]["EXTERNAL_URL"]) == direct


def test_switched_nag_passes_with_fewer_acknowledgments(switched: Synthesized) -> None:
    report = json.loads((switched.outdir / "validation-report.json").read_text())
    assert all(not plugin.get("violations") for plugin in report["pluginReports"]), report
    metadata = json.loads((switched.outdir / f"{switched.stack_name}.metadata.json").read_text())
    acknowledged_paths = {
        path
        for path, entries in metadata.items()
        if any(e["type"] == "aws:cdk:acknowledged-rules" for e in entries)
    }
    assert not any(path.startswith("/Spooled/Edge") for path in acknowledged_paths)
    # The account logging role the switched stack owns brings its own (test_deploy_readiness.py).
    assert "/Spooled/ApiGatewayLogging/Role" in acknowledged_paths
