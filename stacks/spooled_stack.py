"""The Spooled stack: data stores from shared/schema.py, the API and dispatcher functions, the HTTP
API in front, the one-minute sweep, alarms and a dashboard."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from shared import schema
from stacks import roles
from stacks.api import HttpFrontDoor
from stacks.config import StackConfig
from stacks.data import DataStores
from stacks.dispatcher import DispatcherTriggers, stream_failure_queue, time_limit_for
from stacks.functions import ServiceFunction, bundle_code
from stacks.monitoring import Monitoring
from stacks.nag import acknowledge

LAMBDA_WORKER_FINDING = (
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>"
    ":function:{prefix}*]"
)
# Under the HTTP API's 30 s integration limit, so a slow request ends as our timeout, logged.
API_TIMEOUT = cdk.Duration.seconds(29)


class SpooledStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        data = DataStores(self, "Data", config=config)
        jobs_table = data.table(schema.JOBS_TABLE)
        dispatch_queue = data.queue(schema.DISPATCH_QUEUE)
        code = bundle_code()  # one asset shared by every function
        environment = data.environment()

        # The operator's key for the admin API (creating organizations and their first API key).
        admin_key = secretsmanager.Secret(
            self,
            "AdminKey",
            description="Spooled admin key: send it as X-Admin-Key to /api/v1/admin/*",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True
            ),
            removal_policy=config.data_removal_policy,
        )
        acknowledge(
            admin_key,
            "AwsSolutions-SMG4",
            "A generated operator credential for the admin API, not a database password: there "
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

        stream_failures = stream_failure_queue(self, "StreamFailureQueue")
        self.dispatcher = ServiceFunction(
            self,
            "Dispatcher",
            handler="functions.dispatcher.handler.handler",
            description="Spooled dispatcher: timers (SQS), table stream, one-minute sweep",
            code=code,
            config=config,
            service_name="spooled-dispatcher",
            environment=environment,
            statements=roles.dispatcher_statements(data, stream_failures),
            timeout=time_limit_for(schema.DISPATCH_QUEUE.visibility_timeout_seconds),
            # The dispatcher re-chains long timers by sending to the queue it consumes. Lambda
            # would take that for a runaway loop and drop the chain after 16 hops.
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
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

        # Later issues add the scheduler and webhooks functions here, one ServiceFunction each
        # with a builder in stacks/roles.py.
        #
        # Live updates (later issue): a WebSocket API ($connect authenticates with a token in
        # the query string), a connections table declared in shared/schema.py, and a fan-out
        # function on the jobs stream. DynamoDB allows two readers per stream shard; the
        # dispatcher is the first, so the fan-out must be the last direct one.

        acknowledge(
            self.lambda_invoker.role,
            LAMBDA_WORKER_FINDING.format(prefix=config.lambda_worker_prefix),
            "Lambda workers are the customer's functions, named in a queue's settings after the "
            "stack is deployed; the name prefix (context lambda_worker_prefix) is the narrowest "
            "resource that allows that, and only lambda:InvokeFunction is granted on it.",
        )
        for service in (self.api, self.dispatcher, self.lambda_invoker):
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
            },
            stream_failures=stream_failures,
            http_api=self.front_door.http_api,
        )

        cdk.CfnOutput(self, "ApiUrl", value=self.front_door.url, description="Base URL of the Spooled API")
        cdk.CfnOutput(
            self,
            "DashboardUrl",
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

    def _generated_secret(
        self, construct_id: str, description: str, config: StackConfig
    ) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            construct_id,
            description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=config.data_removal_policy,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "A generated key only this service uses, with no second party to rotate in step with: "
            "the operator rotates it by hand (put-secret-value, then new API function containers; "
            "docs/deploy.md). Only the API function's role can read it.",
        )
        return secret
