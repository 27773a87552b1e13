"""Logs, tracing, metrics alarms and their notification topic, read from the synthesized templates.

The default synth (cdk.json: no alarm e-mail) has the alarms without a topic; the `switched` synth
(`-c alarm_email=ops@example.com`) has an SNS topic under a customer-managed KMS key with that
e-mail subscription, and every alarm notifies it. Both pass cfn-lint; cdk-nag runs in each synth.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from shared.plumbing import observability as obs
from tests.cdk.conftest import ALARM_EMAIL, Synthesized
from tests.cdk.test_cfn_lint import EXPLAINED_WARNINGS, REGIONS

# The alarm per service metric (stacks/monitoring.py), and the metric name(s) it reads.
SERVICE_ALARMS = {
    "OldestPendingJobAge": {obs.OLDEST_PENDING_AGE},
    "DeadLetterGrowth": {obs.JOBS_DEAD_LETTERED},
    "WebhookDeliveryFailureRate": {obs.WEBHOOK_DELIVERED, obs.WEBHOOK_RETRYING, obs.WEBHOOK_GAVE_UP},
}


def _functions(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return synth.of_type("AWS::Lambda::Function")


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return {props["MetricName"]}
    return {
        query["MetricStat"]["Metric"]["MetricName"]
        for query in props.get("Metrics", [])
        if "MetricStat" in query
    }


def _service_metric_alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """Alarms reading the service's own namespace, by construct id."""
    found = {}
    for alarm in synth.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        queries = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        namespaces = {props.get("Namespace")} | {q.get("Namespace") for q in queries}
        if obs.DEFAULT_NAMESPACE in namespaces:
            construct_id = alarm["Metadata"]["aws:cdk:path"].split("/")[-2]
            found[construct_id] = alarm
    return found


@pytest.mark.parametrize("which", ["synthesized", "switched"])
def test_every_function_logs_json_at_the_configured_level_with_active_tracing(
    which: str, request: pytest.FixtureRequest, cdk_context: dict[str, Any]
) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    level = cdk_context["log_level"]
    functions = _functions(synth)
    assert len(functions) >= 6
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert props["LoggingConfig"]["LogFormat"] == "JSON", logical_id
        assert props["LoggingConfig"]["ApplicationLogLevel"] == level, logical_id
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_LOG_LEVEL"] == level, logical_id
        assert variables["LOG_LEVEL"] == level, logical_id
        assert variables[obs.NAMESPACE_ENV] == obs.DEFAULT_NAMESPACE
        assert variables[obs.DEPLOYMENT_ENV] == synth.stack_name
        assert (obs.PER_QUEUE_ENV in variables) is (which == "switched")


def test_a_log_level_from_context_reaches_the_functions() -> None:
    from stacks.config import StackConfig

    warning = StackConfig(log_level="WARNING")
    assert warning.log_level_name == "WARN"  # Lambda's name for it
    assert StackConfig().log_level_name == "INFO"


def test_function_roles_may_send_traces(synthesized: Synthesized) -> None:
    for logical_id, function in _functions(synthesized).items():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = [
            s
            for policy in synthesized.resources[role_id]["Properties"]["Policies"]
            for s in policy["PolicyDocument"]["Statement"]
        ]
        tracing = [s for s in statements if s.get("Sid") == "ActiveTracing"]
        assert len(tracing) == 1, logical_id
        assert sorted(tracing[0]["Action"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def test_the_bundle_carries_no_xray_sdk(lambda_bundle: Any) -> None:
    assert not (lambda_bundle / "aws_xray_sdk").exists()


@pytest.mark.parametrize("which", ["synthesized", "switched"])
def test_alarms_exist_on_the_service_metrics(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(which)
    alarms = _service_metric_alarms(synth)
    assert set(alarms) == set(SERVICE_ALARMS)
    for construct_id, names in SERVICE_ALARMS.items():
        alarm = alarms[construct_id]
        assert _metric_names(alarm) == names, construct_id
        props = alarm["Properties"]
        dimension_sets = (
            [props["Dimensions"]]
            if "Dimensions" in props
            else [q["MetricStat"]["Metric"]["Dimensions"] for q in props["Metrics"] if "MetricStat" in q]
        )
        for dimensions in dimension_sets:
            # Exactly the dimensions the functions emit: a series per deployment, nothing else.
            assert dimensions == [{"Name": obs.DEPLOYMENT_DIMENSION, "Value": synth.stack_name}]


def test_api_5xx_rate_alarm_reads_the_http_api(synthesized: Synthesized) -> None:
    (alarm,) = [
        a
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if a["Metadata"]["aws:cdk:path"].endswith("/Api5xxRate/Resource")
    ]
    names = _metric_names(alarm)
    assert names == {"Count", "5xx"}
    expression = next(q["Expression"] for q in alarm["Properties"]["Metrics"] if "Expression" in q)
    assert "errors" in expression and "requests" in expression


def test_without_an_alarm_email_there_is_no_topic_and_no_key(synthesized: Synthesized) -> None:
    assert not synthesized.of_type("AWS::SNS::Topic")
    assert not synthesized.of_type("AWS::SNS::Subscription")
    assert not synthesized.of_type("AWS::KMS::Key")
    for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values():
        assert not alarm["Properties"].get("AlarmActions")


def test_with_an_alarm_email_every_alarm_notifies_an_encrypted_topic(switched: Synthesized) -> None:
    (topic_id, topic) = next(iter(switched.of_type("AWS::SNS::Topic").items()))
    assert len(switched.of_type("AWS::SNS::Topic")) == 1
    (key_id,) = switched.of_type("AWS::KMS::Key")
    key = switched.resources[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    # CloudWatch publishes to the topic as itself and must be able to use the key.
    cloudwatch = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    (subscription,) = switched.of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == ALARM_EMAIL
    assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id}
    alarms = switched.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) > 20
    for logical_id, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic_id}], logical_id
    # The infrastructure alarms are still there, with the same action.
    assert any(a["Metadata"]["aws:cdk:path"].endswith("ApiErrors/Resource") for a in alarms.values())


def test_the_alarm_topic_template_passes_cfn_lint(switched: Synthesized) -> None:
    matches = lint(json.dumps(switched.template), config=ManualArgs(regions=REGIONS))
    unexplained = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in EXPLAINED_WARNINGS]
    assert not unexplained, "\n".join(unexplained)
