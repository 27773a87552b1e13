"""The account's API Gateway CloudWatch role, without which a WebSocket stage cannot write access logs.

HTTP APIs log through a service-linked role; REST and WebSocket APIs log through one role per
account and region, set in API Gateway's account settings. A fresh account has none, and creating a
WebSocket stage with access logs then fails ("CloudWatch Logs role ARN must be set in account
settings to enable logging"). The setting is shared by every REST and WebSocket API in the region,
so the role gets what AWS's managed AmazonAPIGatewayPushToCloudWatchLogs policy grants for writing
(not for reading), on every log group of the account and region: replacing a role another team set
up must not silently stop their APIs' logs. Context `apigateway_cloudwatch_role=false` leaves an
existing setting alone (docs/deploy.md).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.nag import acknowledge

PUSH_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)


class ApiGatewayLoggingRole(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        log_groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
        self.role = iam.Role(
            self,
            "Role",
            # No aws:SourceAccount condition: it is not documented for this role, and another
            # account cannot point its setting here (that needs iam:PassRole on this role).
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway account setting: write REST and WebSocket API logs to CloudWatch",
            inline_policies={
                "PushLogs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="AccountLogGroups", actions=list(PUSH_ACTIONS), resources=[log_groups]
                        )
                    ]
                )
            },
        )
        # The account setting outlives the stack (CloudFormation leaves it when the stack goes):
        # deleting the role would leave every API of the region pointing at nothing.
        self.role.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]",
            "API Gateway uses this one role for the execution and access logs of every REST and "
            "WebSocket API of the account and region, and creates their log groups itself "
            "(API-Gateway-Execution-Logs_<api>/<stage>), so no narrower resource exists; the "
            "actions only create and append to logs, never read or delete them.",
        )
