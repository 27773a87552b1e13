"""What the synthesized Spooled stack must contain, checked against the schema and the issue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from shared.plumbing import schema
from stacks.lambda_runtime import ARCHITECTURE, PYTHON_VERSION
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import (
    IDENTITY_TYPES,
    POLICY_PROPERTIES,
    TRACE_PERMISSIONS,
    all_table_permissions,
    as_list,
    consume_permissions,
    function_of,
    log_permissions,
    mappings_of,
    object_permissions,
    permissions,
    policy_statements,
    render,
    send_permission,
    stream_permissions,
)

HANDLERS = {
    "Api": "functions.api.handler.handler",
    "Dispatcher": "functions.dispatcher.handler.handler",
    "LambdaInvoker": "functions.dispatcher.lambda_invoker.handler",
    "Scheduler": "functions.scheduler.handler.handler",
    "Webhooks": "functions.webhooks.handler.handler",
    "LiveUpdates": "functions.live_updates.handler.handler",
}
SERVICES = (("Api", "spooled-api"), ("Dispatcher", "spooled-dispatcher"),
            ("LambdaInvoker", "spooled-lambda-invoker"), ("Scheduler", "spooled-scheduler"),
            ("Webhooks", "spooled-webhooks"), ("LiveUpdates", "spooled-live-updates"))  # fmt: skip
# Creates and settles jobs, so reads, writes, tags (uncommitted, then committed) and deletes
# offloaded payloads (stacks/roles.py).
PAYLOAD_OBJECT_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"}
TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}
OLD_TLS = {"NumericLessThan": {"s3:TlsVersion": 1.2}}  # the bucket's minimum_tls_version
_function = function_of


# --- data stores --------------------------------------------------------------------------------


def test_tables_match_the_schema(synthesized: Synthesized) -> None:
    tables = synthesized.of_type("AWS::DynamoDB::Table")
    assert set(tables) == {t.logical_id for t in schema.TABLES}
    for definition in schema.TABLES:
        props = tables[definition.logical_id]["Properties"]
        assert props["KeySchema"] == [
            {"AttributeName": definition.partition_key.name, "KeyType": "HASH"},
            {"AttributeName": definition.sort_key.name, "KeyType": "RANGE"},
        ]
        indexes = {gsi["IndexName"]: gsi for gsi in props.get("GlobalSecondaryIndexes", [])}
        assert list(indexes) == [index.name for index in definition.indexes]
        for index in definition.indexes:
            gsi = indexes[index.name]
            assert gsi["KeySchema"] == [
                {"AttributeName": index.partition_key.name, "KeyType": "HASH"},
                {"AttributeName": index.sort_key.name, "KeyType": "RANGE"},
            ]
            assert gsi["Projection"]["ProjectionType"] == index.projection
            assert sorted(gsi["Projection"].get("NonKeyAttributes", [])) == sorted(index.non_key_attributes)
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}  # AWS-managed KMS key
        if definition.stream_view:
            assert props["StreamSpecification"] == {"StreamViewType": definition.stream_view}
        else:
            assert "StreamSpecification" not in props
        if definition.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {
                "AttributeName": definition.ttl_attribute,
                "Enabled": True,
            }


def test_data_is_retained_and_protected_by_default(synthesized: Synthesized) -> None:
    # cdk.json sets retain=true; tests/cdk/test_config.py covers retain=false.
    for definition in schema.TABLES:
        table = synthesized.resources[definition.logical_id]
        assert table["DeletionPolicy"] == "Retain"
        assert table["UpdateReplacePolicy"] == "Retain"
        assert table["Properties"]["DeletionProtectionEnabled"] is True
    for definition in schema.BUCKETS:
        assert synthesized.resources[definition.logical_id]["DeletionPolicy"] == "Retain"
    secret, _ = synthesized.by_path("AdminKey/Resource")
    assert synthesized.resources[secret]["DeletionPolicy"] == "Retain"


def _tls_only_policy_targets(synthesized: Synthesized, policy_type: str, key: str) -> set[str]:
    targets: set[str] = set()
    for policy in synthesized.of_type(policy_type).values():
        for statement in policy_statements(policy):
            if statement["Effect"] == "Deny" and statement.get("Condition") == TLS_ONLY:
                targets |= {render(t) for t in as_list(policy["Properties"][key])}
    return targets


def test_queues_have_redrive_sse_and_tls_only(synthesized: Synthesized) -> None:
    queues = synthesized.of_type("AWS::SQS::Queue")
    for definition in schema.QUEUES:
        props = queues[definition.logical_id]["Properties"]
        assert props["VisibilityTimeout"] == definition.visibility_timeout_seconds
        assert props["MessageRetentionPeriod"] == definition.retention_days * 86400
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [definition.dead_letter_logical_id, "Arn"]},
            "maxReceiveCount": definition.max_receive_count,
        }
        assert definition.dead_letter_logical_id in queues
    for props in (queue["Properties"] for queue in queues.values()):
        assert props["SqsManagedSseEnabled"] is True
    # enforce_ssl: every queue, the dead-letter and stream-failure queues included.
    assert _tls_only_policy_targets(synthesized, "AWS::SQS::QueuePolicy", "Queues") == set(queues)


def test_payload_bucket_is_private_encrypted_and_tls_only(synthesized: Synthesized) -> None:
    for definition in schema.BUCKETS:
        props = synthesized.resources[definition.logical_id]["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert _tls_only_policy_targets(synthesized, "AWS::S3::BucketPolicy", "Bucket") == {
        b.logical_id for b in schema.BUCKETS
    }


# --- functions ----------------------------------------------------------------------------------


def test_only_the_service_functions_exist(synthesized: Synthesized) -> None:
    functions = synthesized.of_type("AWS::Lambda::Function")
    assert len(functions) == len(HANDLERS)
    for name, handler in HANDLERS.items():
        assert _function(synthesized, name)[1]["Properties"]["Handler"] == handler


def test_functions_are_arm64_on_the_pinned_runtime(synthesized: Synthesized) -> None:
    synthesized.assertions.all_resources_properties(
        "AWS::Lambda::Function",
        {"Architectures": [ARCHITECTURE], "Runtime": f"python{PYTHON_VERSION}"},
    )


def test_functions_get_every_resource_through_the_environment(synthesized: Synthesized) -> None:
    sender_role, _ = synthesized.by_path("Schedules/SenderRole/Resource")
    expected_refs = {
        **{t.env_var: {"Ref": t.logical_id} for t in schema.TABLES},
        **{q.env_var: {"Ref": q.logical_id} for q in schema.QUEUES},  # Ref of a queue is its URL
        **{b.env_var: {"Ref": b.logical_id} for b in schema.BUCKETS},
        schema.SCHEDULE_GROUP_ENV: {"Ref": "ScheduleGroup"},  # Ref of a schedule group is its name
        schema.SCHEDULE_ROLE_ARN_ENV: {"Fn::GetAtt": [sender_role, "Arn"]},
        schema.SCHEDULE_QUEUE_ARN_ENV: {"Fn::GetAtt": [schema.SCHEDULE_FIRE_QUEUE.logical_id, "Arn"]},
    }
    secret, _ = synthesized.by_path("AdminKey/Resource")
    for name, service in SERVICES:
        _, function = _function(synthesized, name)
        variables = function["Properties"]["Environment"]["Variables"]
        for env_var, ref in expected_refs.items():
            assert variables[env_var] == ref, (name, env_var)
        callback = render(variables[schema.WS_CALLBACK_URL_ENV])
        assert callback == "https://LiveUpdatesWebSocketApi.execute-api.AWS::Region.AWS::URLSuffix/live"
        assert variables["POWERTOOLS_SERVICE_NAME"] == service
        assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
        assert variables["SPOOLED_ENV"] == "production"
        has_secret = variables.get("SPOOLED_ADMIN_KEY_SECRET_ARN") == {"Ref": secret}
        assert has_secret is (name == "Api")


def test_functions_log_to_their_own_group_with_retention(synthesized: Synthesized) -> None:
    for name, _ in SERVICES:
        _, function = _function(synthesized, name)
        log_group, resource = synthesized.by_path(f"{name}/Logs/Resource")
        assert function["Properties"]["LoggingConfig"] == {
            "LogGroup": {"Ref": log_group},
            "LogFormat": "JSON",
            "ApplicationLogLevel": "INFO",
            "SystemLogLevel": "INFO",
        }
        assert resource["Properties"]["RetentionInDays"] == 30


def test_dispatcher_may_recurse_through_its_own_queue(synthesized: Synthesized) -> None:
    # Re-chained timers: Lambda's loop detection would otherwise stop a chain after 16 hops.
    _, dispatcher = _function(synthesized, "Dispatcher")
    assert dispatcher["Properties"]["RecursiveLoop"] == "Allow"
    _, api = _function(synthesized, "Api")
    assert api["Properties"].get("RecursiveLoop", "Terminate") == "Terminate"


# --- HTTP API -----------------------------------------------------------------------------------


def test_every_route_reaches_the_api_function(synthesized: Synthesized) -> None:
    api_function, _ = _function(synthesized, "Api")
    http_api, _ = synthesized.by_path("Http/HttpApi/Resource")
    routes = [
        r for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["ApiId"] == {"Ref": http_api}
    ]  # fmt: skip
    assert {r["Properties"]["RouteKey"] for r in routes} == {"$default", "ANY /{proxy+}"}
    integrations = synthesized.of_type("AWS::ApiGatewayV2::Integration")
    for route in routes:
        props = route["Properties"]
        assert props["AuthorizationType"] == "NONE"  # the function authenticates (APIG4 acknowledged)
        target_parts = props["Target"]["Fn::Join"][1]
        integration = integrations[target_parts[1]["Ref"]]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [api_function, "Arn"]}
    permitted = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and f":{http_api}/" in render(p["Properties"]["SourceArn"])
    ]
    assert permitted and all(p["FunctionName"] == {"Fn::GetAtt": [api_function, "Arn"]} for p in permitted)


def test_stage_has_access_logs_and_throttling_parameters(synthesized: Synthesized) -> None:
    access_logs, _ = synthesized.by_path("Http/AccessLogs/Resource")
    synthesized.assertions.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "AccessLogSettings": {
                "DestinationArn": {"Fn::GetAtt": [access_logs, "Arn"]},
                "Format": Match.string_like_regexp(r"\$context\.requestId"),
            },
            "DefaultRouteSettings": {
                "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
                "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
            },
        },
    )
    parameters = synthesized.template["Parameters"]
    assert parameters["ApiThrottleBurstLimit"]["Type"] == "Number"
    assert parameters["ApiThrottleRateLimit"]["Type"] == "Number"


# --- dispatcher triggers ------------------------------------------------------------------------


def test_dispatcher_consumes_the_queue_and_the_stream(synthesized: Synthesized) -> None:
    dispatcher, _ = _function(synthesized, "Dispatcher")
    failures, _ = synthesized.by_path("StreamFailureQueue/Resource")
    mappings = mappings_of(synthesized, dispatcher)
    assert set(mappings) == {"DispatchQueue.Arn", "JobsTable.StreamArn"}
    queue = mappings["DispatchQueue.Arn"]
    assert queue["FunctionName"] == {"Ref": dispatcher}
    assert queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    stream = mappings["JobsTable.StreamArn"]
    assert stream["FunctionName"] == {"Ref": dispatcher}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Retried whole from its first record, never in halves (its stream marks are keyed by it).
    assert stream["BisectBatchOnFunctionError"] is False
    assert 0 < stream["MaximumRetryAttempts"] <= 10
    assert stream["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failures, "Arn"]}}}
    # Lambda rejects a mapping whose function may outlive the queue's visibility timeout.
    timeout = synthesized.resources[dispatcher]["Properties"]["Timeout"]
    assert timeout * 6 <= schema.DISPATCH_QUEUE.visibility_timeout_seconds


def test_sweep_invokes_the_dispatcher_every_minute(synthesized: Synthesized) -> None:
    dispatcher, _ = _function(synthesized, "Dispatcher")
    sweep_role, _ = synthesized.by_path("DispatcherTriggers/SweepRole/Resource")
    (schedule,) = synthesized.of_type("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props["State"] == "ENABLED"
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [dispatcher, "Arn"]}
    assert props["Target"]["RoleArn"] == {"Fn::GetAtt": [sweep_role, "Arn"]}
    assert json.loads(props["Target"]["Input"]) == {"sweep": True}


# --- operations ---------------------------------------------------------------------------------


def _alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    props = alarm["Properties"]
    if "MetricName" in props:
        stats = [{"Namespace": props["Namespace"], "MetricName": props["MetricName"],
                  "Dimensions": props.get("Dimensions", [])}]  # fmt: skip
    else:
        stats = [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
    return [
        (s["Namespace"], s["MetricName"], {d["Name"]: d["Value"] for d in s.get("Dimensions", [])})
        for s in stats
    ]


def test_alarms_cover_queues_functions_and_table(synthesized: Synthesized) -> None:
    watched = [m for a in synthesized.of_type("AWS::CloudWatch::Alarm").values() for m in _alarm_metrics(a)]

    def watches(namespace: str, metric: str, **dimensions: Any) -> bool:
        return any(
            ns == namespace and name == metric and all(dims.get(k) == v for k, v in dimensions.items())
            for ns, name, dims in watched
        )

    for queue in schema.QUEUES:
        dead_letter = {"Fn::GetAtt": [queue.dead_letter_logical_id, "QueueName"]}
        assert watches("AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=dead_letter)
        main = {"Fn::GetAtt": [queue.logical_id, "QueueName"]}
        assert watches("AWS/SQS", "ApproximateAgeOfOldestMessage", QueueName=main)
    failures, _ = synthesized.by_path("StreamFailureQueue/Resource")
    assert watches("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                   QueueName={"Fn::GetAtt": [failures, "QueueName"]})  # fmt: skip
    for name, _ in SERVICES:
        function, _ = _function(synthesized, name)
        assert watches("AWS/Lambda", "Errors", FunctionName={"Ref": function})
        assert watches("AWS/Lambda", "Throttles", FunctionName={"Ref": function})
    for table in schema.TABLES:
        assert watches("AWS/DynamoDB", "ThrottledRequests", TableName={"Ref": table.logical_id})
    assert watches("AWS/DynamoDB", "UserErrors")


def test_dashboard_and_outputs(synthesized: Synthesized) -> None:
    synthesized.assertions.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    outputs = synthesized.template["Outputs"]
    assert {"ApiUrl", "HttpApiUrl", "CloudWatchDashboardUrl", "AdminKeySecretArn"} <= set(outputs)
    stage_url = render(outputs["HttpApiUrl"]["Value"])
    assert stage_url.startswith("https://") and ".execute-api." in stage_url
    assert "#dashboards/dashboard/" in render(outputs["CloudWatchDashboardUrl"]["Value"])
    # The URLs the front door serves are checked in test_front_door.py.


@pytest.mark.parametrize("name", ["AdminKey", "JwtSigningSecret", "MetricsToken"])
def test_credentials_are_generated_secrets(synthesized: Synthesized, name: str) -> None:
    _, secret = synthesized.by_path(f"{name}/Resource")
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32


def test_api_finds_its_secrets_and_registration_is_closed(synthesized: Synthesized) -> None:
    _, function = _function(synthesized, "Api")
    variables = function["Properties"]["Environment"]["Variables"]
    for variable, name in (
        ("SPOOLED_ADMIN_KEY_SECRET_ARN", "AdminKey"),
        ("SPOOLED_JWT_SECRET_ARN", "JwtSigningSecret"),
        ("SPOOLED_METRICS_TOKEN_SECRET_ARN", "MetricsToken"),
    ):
        assert variables[variable] == {"Ref": synthesized.by_path(f"{name}/Resource")[0]}
    assert variables["REGISTRATION_MODE"] == "closed"


# --- IAM ----------------------------------------------------------------------------------------


def test_no_wildcard_actions_anywhere(synthesized: Synthesized) -> None:
    for logical_id, resource in synthesized.resources.items():
        if resource["Type"] not in POLICY_PROPERTIES:
            continue
        for statement in policy_statements(resource):
            actions = as_list(statement.get("Action", [])) + as_list(statement.get("NotAction", []))
            wildcard = [a for a in actions if "*" in a]
            if resource["Type"] in IDENTITY_TYPES or statement["Effect"] == "Allow":
                assert not wildcard, (logical_id, statement)
                if statement.get("Sid") == "ActiveTracing":
                    # X-Ray's PutTraceSegments/PutTelemetryRecords exist only on "*".
                    assert set(actions) == {a for a, _ in TRACE_PERMISSIONS}, (logical_id, statement)
                    continue
                assert "*" not in as_list(statement.get("Resource", [])), (logical_id, statement)
            else:
                # The only Deny statements are transport rules (enforce_ssl, minimum TLS 1.2):
                # "sqs:*"/"s3:*" denied without (modern) TLS, a wildcard that only takes access away.
                assert statement.get("Condition") in (TLS_ONLY, OLD_TLS), (logical_id, statement)


def test_no_managed_policies(synthesized: Synthesized) -> None:
    assert not synthesized.of_type("AWS::IAM::ManagedPolicy")
    assert not synthesized.of_type("AWS::IAM::Policy")  # every permission is inline in its role
    for role in synthesized.of_type("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_every_role_belongs_to_one_function_or_service(synthesized: Synthesized) -> None:
    roles = set(synthesized.of_type("AWS::IAM::Role"))
    expected = {synthesized.by_path(f"{name}/Role/Resource")[0] for name, _ in SERVICES} | {
        synthesized.by_path("DispatcherTriggers/SweepRole/Resource")[0],  # scheduler -> dispatcher
        synthesized.by_path("Schedules/SenderRole/Resource")[0],  # scheduler -> schedule-fire queue
    }  # (API Gateway's logging role only with apigateway_cloudwatch_role=true: test_deploy_readiness.py)
    assert roles == expected
    for name, _ in SERVICES:
        role, resource = synthesized.by_path(f"{name}/Role/Resource")
        _, function = _function(synthesized, name)
        assert function["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
        (trust,) = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_api_role_has_exactly_its_permissions(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("Api/Role/Resource")
    expected = log_permissions(synthesized, "Api") | all_table_permissions()
    expected |= object_permissions(PAYLOAD_OBJECT_ACTIONS)
    for name in ("AdminKey", "JwtSigningSecret", "MetricsToken"):
        expected.add(("secretsmanager:GetSecretValue", synthesized.by_path(f"{name}/Resource")[0]))
    assert permissions(role) == expected
    actions = {action for action, _ in permissions(role)}
    # Schedules are armed from the stream and webhooks fan out from it: the API sends nothing.
    assert not any(a.startswith(("sqs:", "lambda:", "scheduler:", "iam:", "execute-api:")) for a in actions)
    assert "dynamodb:GetRecords" not in actions


def test_dispatcher_role_has_exactly_its_permissions(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("Dispatcher/Role/Resource")
    failures, _ = synthesized.by_path("StreamFailureQueue/Resource")
    sender_role, _ = synthesized.by_path("Schedules/SenderRole/Resource")
    expected = log_permissions(synthesized, "Dispatcher") | all_table_permissions() | stream_permissions()
    expected |= object_permissions(PAYLOAD_OBJECT_ACTIONS)
    expected |= consume_permissions(schema.DISPATCH_QUEUE)
    expected |= {
        send_permission(schema.DISPATCH_QUEUE),
        ("sqs:SendMessage", f"{failures}.Arn"),
        send_permission(schema.LAMBDA_WORKER_QUEUE),
        send_permission(schema.SCHEDULE_FIRE_QUEUE),
        send_permission(schema.WEBHOOK_DELIVERY_QUEUE),
        ("iam:PassRole", f"{sender_role}.Arn"),
    }
    schedules = "arn:AWS::Partition:scheduler:AWS::Region:AWS::AccountId:schedule/ScheduleGroup/*"
    expected |= {
        (f"scheduler:{action}", schedules)
        for action in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule")
    }
    assert permissions(role) == expected
    assert not any(action.startswith(("secretsmanager:", "lambda:")) for action, _ in permissions(role))


def test_lambda_invoker_may_invoke_only_prefixed_worker_functions(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("LambdaInvoker/Role/Resource")
    workers = f"{schema.LAMBDA_WORKER_QUEUE.logical_id}.Arn"
    granted = permissions(role) - log_permissions(synthesized, "LambdaInvoker")
    invokes = {target for action, target in granted if action == "lambda:InvokeFunction"}
    assert len(invokes) == 1
    (target,) = invokes
    assert target.endswith(":function:spooled-worker-*")
    expected = all_table_permissions() | object_permissions(PAYLOAD_OBJECT_ACTIONS)
    expected |= {
        ("sqs:ReceiveMessage", workers),
        ("sqs:DeleteMessage", workers),
        ("sqs:ChangeMessageVisibility", workers),
        ("sqs:GetQueueAttributes", workers),
        ("sqs:SendMessage", workers),
        ("lambda:InvokeFunction", target),
    }
    assert granted == expected


def test_lambda_invoker_consumes_its_queue_one_job_at_a_time(synthesized: Synthesized) -> None:
    invoker, function = _function(synthesized, "LambdaInvoker")
    mappings = list(mappings_of(synthesized, invoker).values())
    assert len(mappings) == 1
    assert mappings[0]["BatchSize"] == 1
    assert mappings[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # SQS visibility must cover six times the consumer's timeout (AWS's advice for Lambda).
    assert function["Properties"]["Timeout"] * 6 <= schema.LAMBDA_WORKER_QUEUE.visibility_timeout_seconds


def test_sweep_role_may_only_invoke_the_dispatcher(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("DispatcherTriggers/SweepRole/Resource")
    dispatcher, _ = _function(synthesized, "Dispatcher")
    assert permissions(role) == {("lambda:InvokeFunction", f"{dispatcher}.Arn")}
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# --- cdk-nag ------------------------------------------------------------------------------------

PAYLOADS_WILDCARD = "AwsSolutions-IAM5[Resource::<PayloadBucket.Arn>/payloads/*]"
CONNECTIONS_WILDCARD = (
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>"
    ":<LiveUpdatesWebSocketApi>/live/{method}/@connections/*]"
)
# Every acknowledged finding, by construct path. A new acknowledgment needs a line here, so it
# cannot slip in without review.
TRACE_WILDCARD = "AwsSolutions-IAM5[Resource::*]"  # X-Ray has no resource-level permissions
EXPECTED_ACKNOWLEDGMENTS = {
    "/Spooled/AdminKey": {"AwsSolutions-SMG4"},
    "/Spooled/JwtSigningSecret": {"AwsSolutions-SMG4"},
    "/Spooled/MetricsToken": {"AwsSolutions-SMG4"},
    "/Spooled/StreamFailureQueue": {"AwsSolutions-SQS3"},
    "/Spooled/Data/PayloadBucket": {"AwsSolutions-S1"},
    "/Spooled/Http/HttpApi": {"AwsSolutions-APIG4"},
    "/Spooled/Api/Role": {PAYLOADS_WILDCARD, TRACE_WILDCARD},
    "/Spooled/Dispatcher/Role": {
        PAYLOADS_WILDCARD,
        TRACE_WILDCARD,
        # One-time schedules are named per fire; the wildcard stays inside the stack's group.
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>"
        ":schedule/<ScheduleGroup>/*]",
    },
    "/Spooled/LambdaInvoker/Role": {
        PAYLOADS_WILDCARD,
        TRACE_WILDCARD,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>"
        ":function:spooled-worker-*]",
    },
    "/Spooled/Scheduler/Role": {PAYLOADS_WILDCARD, TRACE_WILDCARD},
    "/Spooled/Webhooks/Role": {TRACE_WILDCARD},
    # Connection ids are per client socket; the wildcard stays inside the one stage.
    "/Spooled/LiveUpdates/Role": {CONNECTIONS_WILDCARD.format(method=m) for m in ("POST", "DELETE")}
    | {TRACE_WILDCARD},
    # $connect authenticates the ?token= itself, like the HTTP API's function does.
    "/Spooled/Live/WebSocketApi": {"AwsSolutions-APIG4"},
    # Geo restriction and WAF are the operator's to add (WAF breaks the idle cost), access logs
    # would hold the WebSocket ?token=, and the default certificate fixes the TLS policy.
    "/Spooled/Edge/Distribution": {
        "AwsSolutions-CFR1",
        "AwsSolutions-CFR2",
        "AwsSolutions-CFR3",
        "AwsSolutions-CFR4",
    },
}


def test_cdk_nag_passes_with_only_the_reviewed_acknowledgments(synthesized: Synthesized) -> None:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    assert all(not plugin.get("violations") for plugin in report["pluginReports"]), report
    metadata = json.loads((synthesized.outdir / f"{synthesized.stack_name}.metadata.json").read_text())
    acknowledged: dict[str, set[str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                for rule, reason in entry["data"].items():
                    assert len(reason) > 80, f"{rule}: give a reason a reviewer can check"
                    acknowledged.setdefault(path, set()).add(rule.removeprefix("Annotation::"))
    assert acknowledged == EXPECTED_ACKNOWLEDGMENTS
