"""The public HTTPS entry point: an API Gateway HTTP API that hands every request to the API function.

HTTP API rather than REST API: $1.00 instead of $3.50 per million requests, and with a `$default`
route nothing is answered by API Gateway itself, so 404/405 bodies follow the Spooled contract.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.access_logs import AccessLogSettings
from stacks.config import StackConfig
from stacks.nag import acknowledge

# One JSON object per request, from the variables HTTP APIs support. No headers or query
# strings: they carry API keys and webhook secrets.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "method": "$context.httpMethod",
        "path": "$context.path",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "integrationError": "$context.integrationErrorMessage",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)


DEFAULT_RATE_LIMIT = 100  # requests per second, steady state, for the whole stage
DEFAULT_BURST_LIMIT = 200
# Browser apps on other origins: none by default (same-origin dashboard, SDKs and curl need no CORS).
CORS_PARAMETER = "CorsAllowedOrigins"
# What a browser may send and read cross-origin: the credentials the API accepts, its JSON bodies,
# conditional GETs, and the headers it answers with that a client acts on.
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Api-Key",
    "X-Admin-Key",
    "X-Request-Id",
    "If-None-Match",
)
CORS_EXPOSE_HEADERS = ("X-Request-Id", "X-Has-More", "Retry-After", "ETag")
CORS_MAX_AGE_SECONDS = 600
# Reserved concurrency of the API function: 0 reserves nothing. A new account's Lambda quota can be
# as low as 10, and Lambda refuses any reservation that leaves fewer than 10 unreserved, so a
# default above 0 would make the first deploy fail there (docs/deploy.md).
RESERVED_CONCURRENCY_PARAMETER = "ApiReservedConcurrency"


class HttpFrontDoor(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, config: StackConfig
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        # Parameters, not context: throttling can be changed with a stack update, no new synth.
        rate_limit = cdk.CfnParameter(
            stack,
            "ApiThrottleRateLimit",
            type="Number",
            default=DEFAULT_RATE_LIMIT,
            min_value=1,
            description="Steady-state requests per second the HTTP API stage accepts",
        )
        burst_limit = cdk.CfnParameter(
            stack,
            "ApiThrottleBurstLimit",
            type="Number",
            default=DEFAULT_BURST_LIMIT,
            min_value=1,
            description="Requests the HTTP API stage accepts in a burst above the rate limit",
        )

        integration = integrations.HttpLambdaIntegration(
            "ApiFunction", handler, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
        )
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="Spooled REST API",
            # The stage is declared below, with access logs and throttling.
            create_default_stage=False,
            # `$default` catches what no other route matches, including `/`.
            default_integration=integration,
        )
        # An explicit catch-all as well, so the route table documents that every path and
        # method, /health and unknown paths included, reaches the handler.
        self.http_api.add_routes(path="/{proxy+}", methods=[apigwv2.HttpMethod.ANY], integration=integration)
        self._cors(stack)
        self._reserved_concurrency(stack, handler)
        acknowledge(
            self.http_api,
            "AwsSolutions-APIG4",
            "The API function authenticates every request itself, per route: a Spooled API key "
            "(hashed lookup in DynamoDB) or a JWT as Bearer token, X-Admin-Key for the admin API; "
            "only the health probes are public. An API Gateway authorizer would repeat that "
            "lookup at extra cost and latency per request and could not express the per-route "
            "rules without running the same code.",
        )

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=config.log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=rate_limit.value_as_number, burst_limit=burst_limit.value_as_number
            ),
            access_log_settings=AccessLogSettings(
                destination=apigwv2.LogGroupLogDestination(self.access_logs),
                log_format=apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
            ),
        )

    @property
    def url(self) -> str:
        return self.stage.url

    def _cors(self, stack: cdk.Stack) -> None:
        # A parameter, not context: allowing an origin is a stack update, and with none listed the
        # API has no CORS configuration at all (browsers on other origins are refused as before).
        origins = cdk.CfnParameter(
            stack,
            CORS_PARAMETER,
            type="CommaDelimitedList",
            default="",
            description="Origins of browser apps that may call the API (https://app.example.com,...); "
            "empty: no CORS",
        )
        enabled = cdk.CfnCondition(
            stack,
            "CorsEnabled",
            expression=cdk.Fn.condition_not(
                cdk.Fn.condition_equals(cdk.Fn.join(",", origins.value_as_list), "")
            ),
        )
        cfn_api = self.http_api.node.default_child
        assert isinstance(cfn_api, apigwv2.CfnApi)
        cfn_api.add_property_override(
            "CorsConfiguration",
            cdk.Fn.condition_if(
                enabled.logical_id,
                {
                    "AllowOrigins": origins.value_as_list,
                    "AllowMethods": ["*"],
                    "AllowHeaders": list(CORS_ALLOW_HEADERS),
                    "ExposeHeaders": list(CORS_EXPOSE_HEADERS),
                    "MaxAge": CORS_MAX_AGE_SECONDS,
                },
                cdk.Aws.NO_VALUE,
            ),
        )

    def _reserved_concurrency(self, stack: cdk.Stack, handler: lambda_.IFunction) -> None:
        # Keeps a burst of background work (stream batches, webhook deliveries, Lambda workers)
        # from taking every execution the API needs; it also caps the API at that number.
        reserved = cdk.CfnParameter(
            stack,
            RESERVED_CONCURRENCY_PARAMETER,
            type="Number",
            default=0,
            min_value=0,
            description="Concurrent executions reserved for the API function; 0 reserves none "
            "(check the account's Lambda quota first: docs/deploy.md)",
        )
        reserving = cdk.CfnCondition(
            stack,
            "ApiConcurrencyReserved",
            expression=cdk.Fn.condition_not(cdk.Fn.condition_equals(reserved.value_as_string, "0")),
        )
        cfn_function = handler.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.add_property_override(
            "ReservedConcurrentExecutions",
            cdk.Fn.condition_if(reserving.logical_id, reserved.value_as_number, cdk.Aws.NO_VALUE),
        )
