"""Alarms and a dashboard: the few signals that mean jobs are stuck, lost or refused.

The alarms have no actions yet: an SNS topic that CloudWatch may publish to needs a
customer-managed KMS key to be encrypted ($1/month, breaking the idle cost of ~$0). Operators
subscribe through EventBridge "CloudWatch Alarm State Change" events or add a topic (docs/deploy.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared import schema
from stacks import permissions

FIVE_MINUTES = cdk.Duration.minutes(5)
ONE_MINUTE = cdk.Duration.minutes(1)
# SQS's DelaySeconds ceiling: a timer message may wait this long before it is even visible.
SQS_MAX_DELAY_SECONDS = 900
# UserErrors is an account-and-region-wide metric of HTTP 400s (malformed requests, and possibly
# cancelled transactions such as duplicate idempotency keys), so one error is no incident; a
# stream of them is a bug or a misbehaving client.
USER_ERRORS_PER_FIVE_MINUTES = 50


def _table_operations() -> list[dynamodb.Operation]:
    # The operations the functions are allowed to call (permissions.py), as CloudWatch names them.
    actions = permissions.TABLE_ITEM_ACTIONS + permissions.TABLE_QUERY_ACTIONS
    names = {re.sub(r"(?<!^)(?=[A-Z])", "_", a.split(":", 1)[1]).upper() for a in actions}
    return [op for op in dynamodb.Operation if op.name in names]


def oldest_message_threshold(definition: schema.QueueDefinition) -> int:
    """Seconds after which a message in the queue means the dispatcher is not keeping up.

    A healthy message can wait out the longest delay and then every delivery attempt before it
    is dead-lettered; anything older is not being consumed.
    """
    return SQS_MAX_DELAY_SECONDS + definition.visibility_timeout_seconds * definition.max_receive_count


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        dispatch_queue: sqs.IQueue,
        dispatch_definition: schema.QueueDefinition,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        table: dynamodb.Table,
        http_api: apigwv2.HttpApi,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []

        for name, queue in dead_letter_queues.items():
            # Every message here is a job timer or stream batch that failed all its retries.
            self._alarm(
                f"{name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
                threshold=0,
                description=f"{name} holds messages that failed every retry; inspect and redrive",
            )
        self._alarm(
            "DispatchQueueOldestMessage",
            dispatch_queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
            threshold=oldest_message_threshold(dispatch_definition),
            description="The dispatch queue holds a message older than any healthy timer: "
            "the dispatcher is not consuming it",
        )
        for name, function in functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=0,
                description=f"The {name} function raised or timed out",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                threshold=0,
                description=f"The {name} function hit a concurrency limit",
            )
        self._alarm(
            "TableThrottledRequests",
            table.metric_throttled_requests_for_operations(
                operations=_table_operations(), period=FIVE_MINUTES
            ),
            threshold=0,
            description="DynamoDB throttled requests on the jobs table (a hot partition or an account limit)",
        )
        self._alarm(
            "DynamoDbUserErrors",
            table.metric_user_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold=USER_ERRORS_PER_FIVE_MINUTES,
            description="Many DynamoDB HTTP 400 errors in this account and region",
        )

        stack = cdk.Stack.of(self)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            # Dashboard names are global to the account; the region keeps two deployments apart.
            dashboard_name=f"{stack.stack_name}-{stack.region}",
            default_interval=cdk.Duration.hours(3),
        )
        self._widgets(functions, dispatch_queue, dead_letter_queues, table, http_api)

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> None:
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                # No data means no traffic, which is the normal idle state, not an incident.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
        )

    def _widgets(
        self,
        functions: Mapping[str, lambda_.IFunction],
        dispatch_queue: sqs.IQueue,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        table: dynamodb.Table,
        http_api: apigwv2.HttpApi,
    ) -> None:
        def graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)

        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=4)
        )
        self.dashboard.add_widgets(
            graph("API requests", http_api.metric_count(), http_api.metric_client_error(),
                  http_api.metric_server_error()),
            graph("API latency p99 (ms)", http_api.metric_latency(statistic="p99"),
                  http_api.metric_integration_latency(statistic="p99")),
            graph("Queues", dispatch_queue.metric_approximate_number_of_messages_visible(),
                  dispatch_queue.metric_approximate_age_of_oldest_message(),
                  *(q.metric_approximate_number_of_messages_visible() for q in dead_letter_queues.values())),
        )  # fmt: skip
        self.dashboard.add_widgets(
            *(
                graph(f"{name} function", fn.metric_invocations(), fn.metric_errors(),
                      fn.metric_throttles(), fn.metric_duration(statistic="p99"))
                for name, fn in functions.items()
            ),
            graph("Jobs table capacity", table.metric_consumed_read_capacity_units(),
                  table.metric_consumed_write_capacity_units()),
        )  # fmt: skip
        self.dashboard.add_widgets(
            graph("Jobs table contention and errors",
                  table.metric_conditional_check_failed_requests(period=FIVE_MINUTES),
                  table.metric_throttled_requests_for_operations(operations=_table_operations()),
                  table.metric_user_errors()),
        )  # fmt: skip
