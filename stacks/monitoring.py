"""Alarms and a dashboard: the few signals that mean jobs are stuck, lost or refused.

Infrastructure alarms (queues, functions, table) and alarms on the service's own metrics
(shared/plumbing/observability.py: jobs waiting too long, dead letters piling up, webhook
deliveries failing, API 5xx). docs/runbook.md says, alarm by alarm, what it means and what to do.

With `-c alarm_email=...` every alarm notifies an SNS topic with that e-mail subscription. The
topic is encrypted with a customer-managed KMS key ($1/month; CloudWatch cannot publish to a topic
under the AWS-managed SNS key), so there is no topic, and no cost, without an address.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared.plumbing import observability as obs
from shared.plumbing import schema
from stacks.data import DataStores

FIVE_MINUTES = cdk.Duration.minutes(5)
ONE_MINUTE = cdk.Duration.minutes(1)
# SQS's DelaySeconds ceiling: a timer message may wait this long before it is even visible.
SQS_MAX_DELAY_SECONDS = 900
# UserErrors is an account-and-region-wide metric of HTTP 400s (malformed requests, and possibly
# cancelled transactions such as duplicate idempotency keys), so one error is no incident; a
# stream of them is a bug or a misbehaving client.
USER_ERRORS_PER_FIVE_MINUTES = 50
# The table operations the store calls, by their CloudWatch Operation dimension
# (TransactWriteItems is one here, though IAM authorizes its members instead).
TABLE_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
)

# --- alarms on the service's metrics (docs/runbook.md) ---
# The job a worker would claim next has waited this long: no worker polls the queue, or too few.
OLDEST_PENDING_ALARM_SECONDS = 900
# Jobs that failed their last retry in 5 minutes: a few are what retries are for; more is a broken
# worker, a poisoned payload or a downstream outage.
DEAD_LETTERS_PER_FIVE_MINUTES = 10
# Share of webhook attempts that failed, over 5 minutes with at least WEBHOOK_MIN_ATTEMPTS.
WEBHOOK_FAILURE_PERCENT = 20
WEBHOOK_MIN_ATTEMPTS = 10
# Share of API requests answered 5xx, over 5 minutes with at least API_MIN_REQUESTS.
API_5XX_PERCENT = 1
API_MIN_REQUESTS = 20

# API Gateway WebSocket metrics (dimension ApiId). ClientError counts refused connects (a bad
# token) and throttled messages; IntegrationError and ExecutionError mean the function failed.
WEBSOCKET_TRAFFIC_METRICS = ("ConnectCount", "MessageCount")
WEBSOCKET_ERROR_METRICS = ("ClientError", "IntegrationError", "ExecutionError")


def throttled_requests(table: dynamodb.ITable, period: cdk.Duration) -> cloudwatch.MathExpression:
    """ThrottledRequests summed over operations.

    DynamoDB publishes the metric per operation and only while throttling happens. A plain `a + b`
    has no value where one operation lacks data (which is what
    Table.metric_throttled_requests_for_operations builds), so each series is filled with 0.
    """
    metrics = {
        name.lower(): table.metric(
            "ThrottledRequests",
            # Table.metric's own TableName dimension is replaced, not merged, by dimensions_map.
            dimensions_map={"TableName": table.table_name, "Operation": name},
            statistic="Sum",
            period=period,
        )
        for name in TABLE_OPERATIONS
    }
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
        using_metrics=metrics,
        label="Throttled requests, all operations",
        period=period,
    )


def oldest_message_threshold(definition: schema.QueueDefinition) -> int:
    """Seconds after which a message in the queue means the dispatcher is not keeping up.

    A healthy message can wait out the longest delay and then every delivery attempt before it
    is dead-lettered; anything older is not being consumed.
    """
    return SQS_MAX_DELAY_SECONDS + definition.visibility_timeout_seconds * definition.max_receive_count


class Monitoring(Construct):
    """Alarms and the dashboard for every queue and table of shared/plumbing/schema.py and each function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data: DataStores,
        functions: Mapping[str, lambda_.IFunction],
        stream_failures: sqs.IQueue,
        http_api: apigwv2.HttpApi,
        web_socket_api: apigwv2.WebSocketApi,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []
        self.topic = self._topic(alarm_email) if alarm_email else None
        dead_letter_queues: dict[str, sqs.IQueue] = {
            **{q.dead_letter_logical_id: data.dead_letter_queue(q) for q in schema.QUEUES},
            "StreamFailureQueue": stream_failures,
        }

        for name, queue in dead_letter_queues.items():
            # Every message here is a job timer, a push or a stream batch that failed all retries.
            self._alarm(
                f"{name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
                threshold=0,
                description=f"{name} holds messages that failed every retry; inspect and redrive",
            )
        for definition in schema.QUEUES:
            self._alarm(
                f"{definition.logical_id}OldestMessage",
                data.queue(definition).metric_approximate_age_of_oldest_message(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                threshold=oldest_message_threshold(definition),
                description=f"{definition.logical_id} holds a message older than any healthy one "
                "can be: nothing is consuming it",
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
        for definition in schema.TABLES:
            self._alarm(
                f"{definition.logical_id}ThrottledRequests",
                throttled_requests(data.table(definition), FIVE_MINUTES),
                threshold=0,
                description=f"DynamoDB throttled requests on {definition.logical_id} "
                "(a hot partition or an account limit)",
            )
        first_table = data.table(schema.TABLES[0])
        self._alarm(
            "DynamoDbUserErrors",
            # Account-wide metric (no table dimension): one alarm, whichever table provides it.
            first_table.metric_user_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold=USER_ERRORS_PER_FIVE_MINUTES,
            description="Many DynamoDB HTTP 400 errors in this account and region",
        )
        self._service_alarms(http_api)

        stack = cdk.Stack.of(self)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            # Dashboard names are global to the account; the region keeps two deployments apart.
            dashboard_name=f"{stack.stack_name}-{stack.region}",
            default_interval=cdk.Duration.hours(3),
        )
        self._widgets(data, functions, dead_letter_queues, http_api, web_socket_api)

    def _topic(self, email: str) -> sns.Topic:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the alarm notification topic",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # CloudWatch publishes to the encrypted topic as itself: it needs the key to do so.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
            )
        )
        topic = sns.Topic(
            self, "AlarmTopic", display_name="Spooled alarms", master_key=key, enforce_ssl=True
        )
        topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic

    def metric(
        self, name: str, statistic: str = "Sum", period: cdk.Duration = FIVE_MINUTES
    ) -> cloudwatch.Metric:
        """One of the service's metrics (shared/plumbing/observability.py), this deployment's series."""
        return cloudwatch.Metric(
            namespace=obs.DEFAULT_NAMESPACE,
            metric_name=name,
            dimensions_map={obs.DEPLOYMENT_DIMENSION: cdk.Stack.of(self).stack_name},
            statistic=statistic,
            period=period,
        )

    def _service_alarms(self, http_api: apigwv2.HttpApi) -> None:
        self._alarm(
            "OldestPendingJobAge",
            self.metric(obs.OLDEST_PENDING_AGE, statistic="Maximum"),
            threshold=OLDEST_PENDING_ALARM_SECONDS,
            description=f"A claimable job has waited over {OLDEST_PENDING_ALARM_SECONDS} s: "
            "no worker is polling its queue, or too few",
        )
        self._alarm(
            "DeadLetterGrowth",
            self.metric(obs.JOBS_DEAD_LETTERED),
            threshold=DEAD_LETTERS_PER_FIVE_MINUTES,
            description=f"More than {DEAD_LETTERS_PER_FIVE_MINUTES} jobs dead-lettered in 5 minutes",
        )
        ok, retrying, final = (
            self.metric(name) for name in (obs.WEBHOOK_DELIVERED, obs.WEBHOOK_RETRYING, obs.WEBHOOK_GAVE_UP)
        )
        failed = "FILL(retrying, 0) + FILL(final, 0)"
        attempts = f"FILL(ok, 0) + {failed}"
        self._alarm(
            "WebhookDeliveryFailureRate",
            cloudwatch.MathExpression(
                expression=f"IF(({attempts}) >= {WEBHOOK_MIN_ATTEMPTS}, 100 * ({failed}) / ({attempts}), 0)",
                using_metrics={"ok": ok, "retrying": retrying, "final": final},
                label="Webhook attempts failed (%)",
                period=FIVE_MINUTES,
            ),
            threshold=WEBHOOK_FAILURE_PERCENT,
            description=f"Over {WEBHOOK_FAILURE_PERCENT}% of outgoing webhook attempts failed in 5 minutes",
        )
        requests = http_api.metric_count(period=FIVE_MINUTES, statistic="Sum")
        errors = http_api.metric_server_error(period=FIVE_MINUTES, statistic="Sum")
        self._alarm(
            "Api5xxRate",
            cloudwatch.MathExpression(
                expression=f"IF(FILL(requests, 0) >= {API_MIN_REQUESTS}, "
                "100 * FILL(errors, 0) / FILL(requests, 0), 0)",
                using_metrics={"requests": requests, "errors": errors},
                label="API requests answered 5xx (%)",
                period=FIVE_MINUTES,
            ),
            threshold=API_5XX_PERCENT,
            description=f"Over {API_5XX_PERCENT}% of API requests answered 5xx in 5 minutes",
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> None:
        alarm = cloudwatch.Alarm(
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
        if self.topic is not None:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
            alarm.add_ok_action(cloudwatch_actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _widgets(
        self,
        data: DataStores,
        functions: Mapping[str, lambda_.IFunction],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        http_api: apigwv2.HttpApi,
        web_socket_api: apigwv2.WebSocketApi,
    ) -> None:
        def graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)

        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=4)
        )
        self.dashboard.add_widgets(
            graph(
                "API requests",
                http_api.metric_count(),
                http_api.metric_client_error(),
                http_api.metric_server_error(),
            ),
            graph(
                "API latency p99 (ms)",
                http_api.metric_latency(statistic="p99"),
                http_api.metric_integration_latency(statistic="p99"),
            ),
            graph(
                "Dead-letter queues",
                *(q.metric_approximate_number_of_messages_visible() for q in dead_letter_queues.values()),
            ),
        )
        self.dashboard.add_widgets(
            graph("Jobs", *(self.metric(name) for name in (*obs.JOB_METRICS, obs.CLAIM_RACES_LOST))),
            graph(
                "Backlog: pending jobs and oldest claimable job (s)",
                self.metric(obs.PENDING_JOBS, statistic="Maximum"),
                self.metric(obs.OLDEST_PENDING_AGE, statistic="Maximum"),
            ),
            graph(
                "Webhook deliveries and schedule fires",
                *(
                    self.metric(name)
                    for name in (
                        obs.WEBHOOK_DELIVERED,
                        obs.WEBHOOK_RETRYING,
                        obs.WEBHOOK_GAVE_UP,
                        obs.SCHEDULE_FIRES_ON_TIME,
                        obs.SCHEDULE_FIRES_LATE,
                        obs.SCHEDULE_FIRES_MISSED,
                    )
                ),
            ),
        )
        self.dashboard.add_widgets(
            graph(
                "Live updates: WebSocket connects and messages",
                *(web_socket_api.metric(name, statistic="Sum") for name in WEBSOCKET_TRAFFIC_METRICS),
            ),
            graph(
                "Live updates: WebSocket errors",
                *(web_socket_api.metric(name, statistic="Sum") for name in WEBSOCKET_ERROR_METRICS),
            ),
        )
        self.dashboard.add_widgets(
            *(
                graph(
                    f"{definition.logical_id}",
                    data.queue(definition).metric_approximate_number_of_messages_visible(),
                    data.queue(definition).metric_approximate_number_of_messages_not_visible(),
                    data.queue(definition).metric_approximate_age_of_oldest_message(),
                )
                for definition in schema.QUEUES
            ),
            *(
                graph(
                    f"{name} function",
                    function.metric_invocations(),
                    function.metric_errors(),
                    function.metric_throttles(),
                    function.metric_duration(statistic="p99"),
                )
                for name, function in functions.items()
            ),
        )
        for definition in schema.TABLES:
            table = data.table(definition)
            self.dashboard.add_widgets(
                graph(
                    f"{definition.logical_id} capacity",
                    table.metric_consumed_read_capacity_units(),
                    table.metric_consumed_write_capacity_units(),
                ),
                graph(
                    f"{definition.logical_id} contention and errors",
                    # Lost claim races show up here: conditional writes that found the job taken.
                    table.metric_conditional_check_failed_requests(period=FIVE_MINUTES),
                    throttled_requests(table, FIVE_MINUTES),
                    table.metric_user_errors(),
                ),
            )
