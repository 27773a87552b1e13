"""Live updates: an API Gateway WebSocket API whose routes, and the table's stream, feed one function.

Browsers cannot set headers on a WebSocket, so `$connect` authenticates the `?token=` query string
(an API key or a JWT) in the function itself; `$disconnect` forgets the connection and `$default`
takes the client's subscribe/unsubscribe/ping commands. The same function reads the jobs table's
stream and posts each change to the connections that subscribed (execute-api:ManageConnections).

DynamoDB Streams serve at most two readers per shard: the dispatcher is the first, this function the
second and last. Outgoing webhooks therefore fan out through the dispatcher, not a third reader.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from shared.plumbing import schema
from stacks import permissions
from stacks.access_logs import AccessLogSettings
from stacks.config import StackConfig
from stacks.nag import acknowledge

# API Gateway accepts WebSocket connections at the stage root: wss://{api}.execute-api.../live.
STAGE_NAME = "live"
# Pinned: the API id is part of the direct URL and the callback URL, and a refactor of the
# construct tree must not replace the API (and so change the URL clients were given).
API_LOGICAL_ID = "LiveUpdatesWebSocketApi"
ROUTE_KEYS = ("$connect", "$disconnect", "$default")
# Clients send a few commands per connection (subscribe, ping every 30 s); connects count too.
RATE_LIMIT = 50  # messages and connects per second, steady state, for the whole stage
BURST_LIMIT = 100
# One JSON object per connect, message and disconnect. WebSocket stages support these variables;
# none holds the query string, which carries the client's API key or JWT.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "eventType": "$context.eventType",
        "routeKey": "$context.routeKey",
        "connectionId": "$context.connectionId",
        "status": "$context.status",
        # $context.integrationStatus is an HTTP API variable; WebSocket stages name the function's
        # answer $context.integration.status (and Lambda's own $context.integration.integrationStatus).
        "integrationStatus": "$context.integration.status",
        "integrationError": "$context.integration.error",
        "integrationLatency": "$context.integrationLatency",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)
STREAM_BATCH_SIZE = 100
# Live updates are only worth sending while they are news: a record older than this, or a batch
# that failed this often, is given up (its range lands in the stream-failure queue and its alarm).
# Nothing is lost for good: the current state is always one REST call away.
STREAM_RETRY_ATTEMPTS = 2
LIVE_STREAM = schema.LIVE_STREAM
if (LIVE_STREAM.batch_size, LIVE_STREAM.retry_attempts) != (STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS):
    raise ValueError("stacks/live_updates.py and schema.LIVE_STREAM disagree")
STREAM_MAX_RECORD_AGE = cdk.Duration.minutes(5)


class LiveUpdatesApi(Construct):
    """The WebSocket API and its stage. Routes are added once the function exists (route_to)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, logging_setting: IConstruct | None
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_socket_api = apigwv2.WebSocketApi(
            self,
            "WebSocketApi",
            api_name=f"{cdk.Stack.of(self).stack_name}-live-updates",
            description="Spooled live updates (GET /api/v1/ws through the front door)",
        )
        cfn_api = self.web_socket_api.node.default_child
        if not isinstance(cfn_api, cdk.CfnResource):
            raise TypeError("WebSocketApi has no CloudFormation resource to pin")
        cfn_api.override_logical_id(API_LOGICAL_ID)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=config.log_retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.web_socket_api,
            stage_name=STAGE_NAME,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT),
            access_log_settings=AccessLogSettings(
                destination=apigwv2.LogGroupLogDestination(self.access_logs),
                log_format=apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
            ),
        )
        if logging_setting is not None:
            # The stage's access logs need the account's CloudWatch role set first.
            self.stage.node.add_dependency(logging_setting)

    @property
    def api_id(self) -> str:
        return self.web_socket_api.api_id

    @property
    def origin_domain(self) -> str:
        stack = cdk.Stack.of(self)
        return f"{self.api_id}.execute-api.{stack.region}.{stack.url_suffix}"

    @property
    def url(self) -> str:
        """wss://{api}.execute-api.{region}.amazonaws.com/live: where clients connect directly."""
        return f"wss://{self.origin_domain}/{STAGE_NAME}"

    @property
    def callback_url(self) -> str:
        """The management endpoint (POST/DELETE @connections/{id}) the function talks back through."""
        return f"https://{self.origin_domain}/{STAGE_NAME}"

    def connection_statements(self) -> list[iam.PolicyStatement]:
        arns = permissions.connection_arns(cdk.Stack.of(self), self.api_id, STAGE_NAME)
        return [permissions.manage_connections(arns)]

    def acknowledge_connection_grants(self, role: IConstruct) -> None:
        for method in permissions.CONNECTION_METHODS:
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
                f"<AWS::AccountId>:<{API_LOGICAL_ID}>/{STAGE_NAME}/{method}/@connections/*]",
                "Connection ids are assigned by API Gateway per client socket at $connect, so the "
                "function must reach any connection of its own WebSocket API's one stage; the "
                "resource names that API and stage, and the action is ManageConnections only.",
            )

    def route_to(self, function: lambda_.IFunction) -> None:
        integration = integrations.WebSocketLambdaIntegration("LiveUpdates", function)
        for key in ROUTE_KEYS:
            # No route responses: the function answers a client's `ping` by posting a Ping frame
            # to the connection itself, so what it returns must not reach the client as well.
            route = self.web_socket_api.add_route(key, integration=integration)
            # An auto-deployed stage created before any route fails to deploy; order them.
            self.stage.node.add_dependency(route)
        acknowledge(
            self.web_socket_api,
            "AwsSolutions-APIG4",
            "The live-updates function authenticates $connect itself, from the ?token= query "
            "string (a Spooled API key or JWT, checked exactly as the REST API checks them), and "
            "refuses the upgrade with 401/403; $disconnect and $default only act on a connection "
            "that $connect accepted. An API Gateway authorizer would repeat the same lookup.",
        )


def consume_stream(function: lambda_.IFunction, table: dynamodb.ITable, stream_failures: sqs.IQueue) -> None:
    function.add_event_source(
        event_sources.DynamoEventSource(
            table,
            # From now on: changes from before the function existed have nobody listening.
            starting_position=lambda_.StartingPosition.LATEST,
            batch_size=STREAM_BATCH_SIZE,
            bisect_batch_on_error=True,
            retry_attempts=STREAM_RETRY_ATTEMPTS,
            max_record_age=STREAM_MAX_RECORD_AGE,
            report_batch_item_failures=True,
            on_failure=event_sources.SqsDlq(stream_failures),
            # What live updates turn into frames or act on, not the connections they write
            # (issue 16); the same patterns filter make dev's poller (shared/plumbing/schema.py).
            filters=[{"pattern": json.dumps(p, separators=(",", ":"))} for p in schema.LIVE_STREAM.filters],
        )
    )
