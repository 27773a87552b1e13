"""One Lambda function with its own role, log group and nothing else.

Adding a function (the scheduler and webhooks functions of later issues) is one ServiceFunction(...)
call with the statements it needs. Every permission is written out in `statements`: the role is
handed to the function write-protected, so CDK grant helpers that event sources or scheduler
targets call on it add nothing behind our back, and there is no AWS managed policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from shared.plumbing import observability
from stacks import permissions
from stacks.config import StackConfig
from stacks.lambda_runtime import ARCHITECTURE, BUNDLE_DIR, PYTHON_VERSION
from stacks.nag import acknowledge

RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + PYTHON_VERSION.replace(".", "_"))
# cdk-nag's finding for the X-Ray statement every function role has (permissions.trace_writes).
TRACE_WILDCARD = "AwsSolutions-IAM5[Resource::*]"
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


def bundle_code() -> lambda_.Code:
    """The asset that scripts/build_lambda_bundle.py fills (dependencies plus our packages)."""
    if not (BUNDLE_DIR / "functions").is_dir():
        raise FileNotFoundError(
            f"{BUNDLE_DIR} is missing or incomplete: run `make synth` or "
            "`.venv/bin/python -m scripts.build_lambda_bundle` first"
        )
    return lambda_.Code.from_asset(str(BUNDLE_DIR))


class ServiceFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        code: lambda_.Code,
        config: StackConfig,
        service_name: str,
        environment: Mapping[str, str],
        statements: Sequence[iam.PolicyStatement],
        timeout: cdk.Duration,
        memory_size: int = 512,
        recursive_loop: lambda_.RecursiveLoop = lambda_.RecursiveLoop.TERMINATE,
        async_retry_attempts: int | None = None,
        max_event_age: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=config.log_retention,
            # Logs are diagnostics bounded by their retention, not data: they go with the stack.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Spooled {service_name}: only what {handler} uses",
            inline_policies={
                "Access": iam.PolicyDocument(
                    statements=[
                        permissions.log_writes(self.log_group),
                        permissions.trace_writes(),
                        *statements,
                    ]
                )
            },
        )
        acknowledge(
            self.role,
            TRACE_WILDCARD,
            "Active tracing: the Lambda service sends this function's X-Ray segments with its role. "
            "xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions, "
            "so '*' is the only resource IAM accepts; they write traces and cannot read anything.",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURES[ARCHITECTURE],
            handler=handler,
            code=code,
            role=self.role.without_policy_updates(),
            log_group=self.log_group,
            # JSON lines at the configured level: Lambda's own lines (START, REPORT) in JSON too, and
            # AWS_LAMBDA_LOG_LEVEL, which Powertools Logger honours, set from the same setting.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=getattr(lambda_.ApplicationLogLevel, config.log_level_name),
            system_log_level_v2=lambda_.SystemLogLevel.INFO,
            # X-Ray segments come from the Lambda service; the X-Ray SDK is not in the bundle.
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout,
            memory_size=memory_size,
            recursive_loop=recursive_loop,
            # Asynchronous invocations only (EventBridge Scheduler's): Lambda retries a failed one
            # twice by default, repeating whatever the first run already did.
            retry_attempts=async_retry_attempts,
            max_event_age=max_event_age,
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_LOG_LEVEL": config.log_level,
                "LOG_LEVEL": config.log_level,
                observability.NAMESPACE_ENV: observability.DEFAULT_NAMESPACE,
                observability.DEPLOYMENT_ENV: cdk.Stack.of(self).stack_name,
                **({observability.PER_QUEUE_ENV: "true"} if config.metrics_per_queue else {}),
                "SPOOLED_ENV": "production",
                **environment,
            },
        )
