"""Cron schedules: the EventBridge Scheduler group, the role its schedules send with, the scheduler
function on the schedule-fire queue, and what the dispatcher may do to arm fires."""

from __future__ import annotations

from shared.plumbing import schema
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import (
    all_table_permissions,
    consume_permissions,
    function_of,
    log_permissions,
    mappings_of,
    object_permissions,
    permissions,
    send_permission,
    statements_with_action,
)

FIRES = schema.SCHEDULE_FIRE_QUEUE


def test_schedule_group_is_named_after_the_stack(synthesized: Synthesized) -> None:
    (group_id,) = synthesized.of_type("AWS::Scheduler::ScheduleGroup")
    # Pinned: replacing the group would delete every far fire armed in it.
    assert group_id == "ScheduleGroup"
    group = synthesized.resources[group_id]["Properties"]
    assert group["Name"] == f"{synthesized.stack_name}-schedules"


def test_sender_role_may_only_send_to_the_fire_queue(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("Schedules/SenderRole/Resource")
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert permissions(role) == {send_permission(FIRES)}


def test_dispatcher_may_pass_the_sender_role_only_to_the_scheduler(synthesized: Synthesized) -> None:
    sender_role, _ = synthesized.by_path("Schedules/SenderRole/Resource")
    _, role = synthesized.by_path("Dispatcher/Role/Resource")
    (pass_role,) = statements_with_action(role, "iam:PassRole")
    assert pass_role["Resource"] == {"Fn::GetAtt": [sender_role, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    # Nobody else may arm schedules or hand the role out.
    for name in ("Api", "Scheduler", "Webhooks", "LiveUpdates", "LambdaInvoker"):
        _, other = synthesized.by_path(f"{name}/Role/Resource")
        assert not any(a.startswith(("scheduler:", "iam:")) for a, _ in permissions(other)), name


def test_dispatcher_knows_how_to_arm_a_schedule(synthesized: Synthesized) -> None:
    sender_role, _ = synthesized.by_path("Schedules/SenderRole/Resource")
    _, dispatcher = function_of(synthesized, "Dispatcher")
    variables = dispatcher["Properties"]["Environment"]["Variables"]
    assert variables[schema.SCHEDULE_GROUP_ENV] == {"Ref": "ScheduleGroup"}
    assert variables[schema.SCHEDULE_ROLE_ARN_ENV] == {"Fn::GetAtt": [sender_role, "Arn"]}
    assert variables[schema.SCHEDULE_QUEUE_ARN_ENV] == {"Fn::GetAtt": [FIRES.logical_id, "Arn"]}
    assert variables[FIRES.env_var] == {"Ref": FIRES.logical_id}


def test_scheduler_consumes_fires_with_partial_batch_responses(synthesized: Synthesized) -> None:
    scheduler, function = function_of(synthesized, "Scheduler")
    mappings = mappings_of(synthesized, scheduler)
    assert set(mappings) == {f"{FIRES.logical_id}.Arn"}
    (fires,) = mappings.values()
    assert fires["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= fires["BatchSize"] <= 10
    props = function["Properties"]
    assert props["Timeout"] * 6 <= FIRES.visibility_timeout_seconds  # AWS's advice for SQS consumers
    # It re-sends far fires to the queue it consumes: a chain, not a runaway loop.
    assert props["RecursiveLoop"] == "Allow"


def test_scheduler_role_has_exactly_its_permissions(synthesized: Synthesized) -> None:
    _, role = synthesized.by_path("Scheduler/Role/Resource")
    expected = log_permissions(synthesized, "Scheduler") | all_table_permissions()
    expected |= object_permissions({"s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"})
    expected |= consume_permissions(FIRES) | {send_permission(FIRES)}
    assert permissions(role) == expected
