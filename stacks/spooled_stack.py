"""The Spooled stack: data stores from shared/plumbing/schema.py, the API, dispatcher, scheduler, webhooks and
live-updates functions, the HTTP and WebSocket APIs with CloudFront in front of both, the
EventBridge Scheduler group, the one-minute sweep, alarms and a dashboard."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared.plumbing import schema
from stacks import live_updates, roles, schedules, webhooks
from stacks.api import HttpFrontDoor
from stacks.apigateway_logging import ApiGatewayLoggingRole
from stacks.config import StackConfig
from stacks.data import DataStores
from stacks.dispatcher import SWEEP_RATE, DispatcherTriggers, stream_failure_queue, time_limit_for
from stacks.front_door import WEBSOCKET_PATH, EdgeFrontDoor
from stacks.functions import ServiceFunction, bundle_code
from stacks.live_updates import LiveUpdatesApi
from stacks.monitoring import Monitoring
from stacks.nag import acknowledge
from stacks.schedules import ScheduleArming

LAMBDA_WORKER_FINDING = (
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>"
    ":function:{prefix}*]"
)
# Under the HTTP API's 30 s integration limit, so a slow request ends as our timeout, logged.
API_TIMEOUT = cdk.Duration.seconds(29)
# A WebSocket route must answer within API Gateway's 29 s; a stream batch of 100 changes fans out to
# every subscribed connection, one POST each, which may take longer than a route call.
LIVE_UPDATES_TIMEOUT = cdk.Duration.seconds(60)


class SpooledStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        data = DataStores(self, "Data", config=config)
        jobs_table = data.table(schema.JOBS_TABLE)
        dispatch_queue = data.queue(schema.DISPATCH_QUEUE)
        code = bundle_code()  # one asset shared by every function
        stream_failures = stream_failure_queue(self, "StreamFailureQueue")
        self.schedules = ScheduleArming(self, "Schedules", fire_queue=data.queue(schema.SCHEDULE_FIRE_QUEUE))
        logging_role = (
            ApiGatewayLoggingRole(self, "ApiGatewayLogging") if config.apigateway_cloudwatch_role else None
        )
        self.live_api = LiveUpdatesApi(
            self, "Live", config=config, logging_setting=logging_role.account if logging_role else None
        )
        if logging_role:
            # AWS::ApiGateway::Account fails in an account where no API Gateway resource was ever
            # created ("role ARN does not have required permissions"), and the stack rolls back:
            # AWS documents making it depend on one. The WebSocket API is created first that way.
            logging_role.account.node.add_dependency(self.live_api.web_socket_api)
        # What every function finds its resources by, the same set make dev gives its handlers
        # (tests/cdk/test_drift.py).
        environment = {
            **data.environment(),
            **self.schedules.environment(),
            schema.WS_CALLBACK_URL_ENV: self.live_api.callback_url,
        }

        # The operator's key for the admin API (creating organizations and their first API key).
        admin_key = self._generated_secret(
            "AdminKey",
            "Spooled admin key: send it as X-Admin-Key to /api/v1/admin/*",
            config,
            length=48,
            rotation_note="A generated operator credential for the admin API, not a database password: there "
            "is no second party to rotate in step with, so the operator rotates it by hand "
            "(put-secret-value, then new API function containers; docs/deploy.md). Only the API "
            "function's role can read it.",
        )

        # HS256 signing key of the JWTs /auth/login issues, and the bearer token that guards
        # /metrics (which lists every tenant's queues). Generated here, never in code.
        jwt_secret = self._generated_secret(
            "JwtSigningSecret", "Spooled JWT signing key (HS256) for /api/v1/auth/*", config
        )
        metrics_token = self._generated_secret(
            "MetricsToken", "Spooled bearer token for GET /metrics (Prometheus scrapers)", config
        )

        self.api = ServiceFunction(
            self,
            "Api",
            handler="functions.api.handler.handler",
            description="Spooled REST API (API Gateway HTTP API, payload v2)",
            code=code,
            config=config,
            service_name="spooled-api",
            environment={
                **environment,
                "SPOOLED_ADMIN_KEY_SECRET_ARN": admin_key.secret_arn,
                "SPOOLED_JWT_SECRET_ARN": jwt_secret.secret_arn,
                "SPOOLED_METRICS_TOKEN_SECRET_ARN": metrics_token.secret_arn,
                "REGISTRATION_MODE": config.registration_mode,
            },
            statements=roles.api_statements(data, admin_key, jwt_secret, metrics_token),
            timeout=API_TIMEOUT,
        )
        self.front_door = HttpFrontDoor(self, "Http", handler=self.api.function, config=config)

        self.dispatcher = ServiceFunction(
            self,
            "Dispatcher",
            handler="functions.dispatcher.handler.handler",
            description="Spooled dispatcher: timers (SQS), table stream, one-minute sweep",
            code=code,
            config=config,
            service_name="spooled-dispatcher",
            environment=environment,
            statements=roles.dispatcher_statements(data, stream_failures, self.schedules),
            # One timeout for its three sources: a stream batch of 100 records with several side
            # effects each, or the sweep over every queue, must not time out (a timed-out stream
            # batch runs again, counters and all). The dispatch queue's visibility is six times it.
            timeout=time_limit_for(schema.DISPATCH_QUEUE.visibility_timeout_seconds),
            # The dispatcher re-chains long timers by sending to the queue it consumes. Lambda
            # would take that for a runaway loop and drop the chain after 16 hops.
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
            # The sweep is its only asynchronous caller: a failed sweep is not retried (it would
            # repeat every part that succeeded), the next one runs a minute later anyway.
            async_retry_attempts=0,
            max_event_age=SWEEP_RATE,
        )
        DispatcherTriggers(
            self,
            "DispatcherTriggers",
            function=self.dispatcher.function,
            queue=dispatch_queue,
            table=jobs_table,
            stream_failures=stream_failures,
        )

        # Lambda workers: one message per pushed job; the invoker waits for the customer's
        # function, so it gets Lambda's longest timeout and a batch of one.
        lambda_workers = schema.LAMBDA_WORKER_QUEUE
        self.lambda_invoker = ServiceFunction(
            self,
            "LambdaInvoker",
            handler="functions.dispatcher.lambda_invoker.handler",
            description="Spooled Lambda workers: pushes a queue's jobs to the function it names",
            code=code,
            config=config,
            service_name="spooled-lambda-invoker",
            environment=environment,
            statements=roles.lambda_invoker_statements(data, self, config.lambda_worker_prefix),
            timeout=time_limit_for(lambda_workers.visibility_timeout_seconds),
            # It queues the next job of its queue itself: a chain, not a runaway loop.
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
        )
        self.lambda_invoker.function.add_event_source(
            event_sources.SqsEventSource(
                data.queue(lambda_workers), batch_size=1, report_batch_item_failures=True
            )
        )

        self.scheduler = self._scheduler_function(data, code, config, environment)
        self.schedules.acknowledge_schedule_grants(self.dispatcher.role)
        self.webhooks = self._webhooks_function(data, code, config, environment)
        self.live_updates = self._live_updates_function(
            data, code, config, environment, jwt_secret, stream_failures
        )

        http_api_domain = self._execute_api_domain(self.front_door.http_api.api_id)
        # The stack's own UUID: unknown outside the account, fixed for the stack's life.
        edge_token = cdk.Fn.select(2, cdk.Fn.split("/", cdk.Aws.STACK_ID))
        self.edge = (
            EdgeFrontDoor(
                self,
                "Edge",
                http_api_domain=http_api_domain,
                websocket_api_domain=self.live_api.origin_domain,
                websocket_stage=live_updates.STAGE_NAME,
                edge_token=edge_token,
                waf_rate_limit=config.waf_rate_limit,
            )
            if config.front_door
            else None
        )
        if self.edge is not None:
            # Per-address limits use CloudFront-Viewer-Address only behind the front door, and only
            # on requests that carry the distribution's origin token (issue 12, finding 6).
            self.api.function.add_environment("SPOOLED_FRONT_DOOR", "true")
            self.api.function.add_environment("SPOOLED_EDGE_TOKEN", edge_token)
        # The address users see (webhook URLs the API shows them): the one host when there is one.
        self.base_url = f"https://{self.edge.domain_name if self.edge else http_api_domain}"
        self.api.function.add_environment("EXTERNAL_URL", self.base_url)

        acknowledge(
            self.lambda_invoker.role,
            LAMBDA_WORKER_FINDING.format(prefix=config.lambda_worker_prefix),
            "Lambda workers are the customer's functions, named in a queue's settings after the "
            "stack is deployed; the name prefix (context lambda_worker_prefix) is the narrowest "
            "resource that allows that, and only lambda:InvokeFunction is granted on it.",
        )
        for service in (self.api, self.dispatcher, self.lambda_invoker, self.scheduler):
            for finding in roles.object_wildcard_findings():
                acknowledge(
                    service.role,
                    finding,
                    "Job payloads and results are objects with generated keys under this one "
                    "prefix of the payload bucket; the wildcard cannot reach other prefixes or "
                    "buckets, and the action list has no List or bucket-level actions.",
                )

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            data=data,
            functions={
                "Api": self.api.function,
                "Dispatcher": self.dispatcher.function,
                "LambdaInvoker": self.lambda_invoker.function,
                "Scheduler": self.scheduler.function,
                "Webhooks": self.webhooks.function,
                "LiveUpdates": self.live_updates.function,
            },
            stream_failures=stream_failures,
            http_api=self.front_door.http_api,
            web_socket_api=self.live_api.web_socket_api,
            alarm_email=config.alarm_email,
        )

        self._url_outputs()
        cdk.CfnOutput(
            self,
            "CloudWatchDashboardUrl",
            value=(
                f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                f"#dashboards/dashboard/{self.monitoring.dashboard.dashboard_name}"
            ),
            description="CloudWatch dashboard of the stack",
        )
        cdk.CfnOutput(
            self,
            "MetricsTokenSecretArn",
            value=metrics_token.secret_arn,
            description="Secrets Manager secret holding the bearer token for GET /metrics",
        )
        cdk.CfnOutput(
            self,
            "AdminKeySecretArn",
            value=admin_key.secret_arn,
            description="Secrets Manager secret holding the admin key (X-Admin-Key)",
        )

    def _scheduler_function(
        self, data: DataStores, code: lambda_.Code, config: StackConfig, environment: dict[str, str]
    ) -> ServiceFunction:
        # Cron fires: delayed to the second through SCHEDULE_FIRE_QUEUE, which the scheduler
        # function consumes and re-sends to while a fire is more than 900 s away.
        fires = schema.SCHEDULE_FIRE_QUEUE
        service = ServiceFunction(
            self,
            "Scheduler",
            handler="functions.scheduler.handler.handler",
            description="Spooled scheduler: turns due cron fires into jobs, exactly once per fire",
            code=code,
            config=config,
            service_name="spooled-scheduler",
            environment=environment,
            statements=roles.scheduler_statements(data),
            timeout=time_limit_for(fires.visibility_timeout_seconds),
            recursive_loop=lambda_.RecursiveLoop.ALLOW,  # re-chains far fires through its own queue
        )
        schedules.consume_fires(service.function, data.queue(fires))
        return service

    def _webhooks_function(
        self, data: DataStores, code: lambda_.Code, config: StackConfig, environment: dict[str, str]
    ) -> ServiceFunction:
        # Outgoing webhooks: one delivery attempt per message; a failed attempt returns to the
        # queue with its backoff as delay, so this function also sends to the queue it consumes.
        service = ServiceFunction(
            self,
            "Webhooks",
            handler="functions.webhooks.handler.handler",
            description="Spooled outgoing webhooks: signed HTTPS deliveries with retries",
            code=code,
            config=config,
            service_name="spooled-webhooks",
            environment=environment,
            statements=roles.webhooks_statements(data),
            timeout=webhooks.DELIVERY_TIMEOUT,
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
        )
        webhooks.consume_deliveries(service.function, data.queue(schema.WEBHOOK_DELIVERY_QUEUE))
        return service

    def _live_updates_function(
        self,
        data: DataStores,
        code: lambda_.Code,
        config: StackConfig,
        environment: dict[str, str],
        jwt_secret: secretsmanager.ISecret,
        stream_failures: sqs.IQueue,
    ) -> ServiceFunction:
        # The WebSocket API's three routes, and the table stream's second (and last) reader.
        service = ServiceFunction(
            self,
            "LiveUpdates",
            handler="functions.live_updates.handler.handler",
            description="Spooled live updates: WebSocket connections and job-change fan-out",
            code=code,
            config=config,
            service_name="spooled-live-updates",
            # $connect verifies JWTs like the API does, with the same signing key.
            environment={**environment, "SPOOLED_JWT_SECRET_ARN": jwt_secret.secret_arn},
            statements=roles.live_updates_statements(
                data, stream_failures, jwt_secret, self.live_api.connection_statements()
            ),
            timeout=LIVE_UPDATES_TIMEOUT,
        )
        self.live_api.route_to(service.function)
        live_updates.consume_stream(service.function, data.table(schema.JOBS_TABLE), stream_failures)
        self.live_api.acknowledge_connection_grants(service.role)
        return service

    def _execute_api_domain(self, api_id: str) -> str:
        return f"{api_id}.execute-api.{self.region}.{self.url_suffix}"

    def _url_outputs(self) -> None:
        # The SDK's base URL keeps its trailing slash like the stage URL always had, so
        # `${ApiUrl}health` works in scripts; the SDK strips it.
        websocket_url = f"wss://{self.edge.domain_name}{WEBSOCKET_PATH}" if self.edge else self.live_api.url
        outputs = {
            "ApiUrl": (f"{self.base_url}/", "Base URL of the Spooled API: give it to the SDK as base_url"),
            "HttpApiUrl": (self.front_door.url, "The HTTP API's own URL, bypassing CloudFront"),
            "WebSocketUrl": (websocket_url, "Live updates endpoint (the SDK connects here with ?token=)"),
            "WebSocketApiUrl": (self.live_api.url, "The WebSocket API stage's own URL, bypassing CloudFront"),
            "DashboardUrl": (f"{self.base_url}/dashboard", "The Spooled web dashboard"),
        }
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=description)

    def _generated_secret(
        self,
        construct_id: str,
        description: str,
        config: StackConfig,
        *,
        length: int = 64,
        rotation_note: str = (
            "A generated key only this service uses, with no second party to rotate in step with: "
            "the operator rotates it by hand (put-secret-value, then new function containers; "
            "docs/deploy.md). Only the roles of the functions that use it can read it."
        ),
    ) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            construct_id,
            description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=length, exclude_punctuation=True
            ),
            removal_policy=config.data_removal_policy,
        )
        acknowledge(secret, "AwsSolutions-SMG4", rotation_note)
        return secret
