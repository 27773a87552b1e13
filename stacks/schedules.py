"""EventBridge Scheduler for cron schedules: the group that holds far fires, and the role they send with.

A cron fire more than SQS's 900 s delay away is armed by the dispatcher (from the table's stream)
as a one-time `at()` schedule in this group, one per Spooled schedule, moved to each next far fire;
at its minute EventBridge Scheduler sends the fire's message to SCHEDULE_FIRE_QUEUE, and the
scheduler function delays it to the exact second and creates the job. consume_fires() wires that
queue to the scheduler function.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from shared.plumbing import schema
from stacks import permissions
from stacks.nag import acknowledge

# Pinned like the tables: a new logical id would replace the group, and deleting a group deletes
# every schedule in it, i.e. every armed far fire.
GROUP_LOGICAL_ID = "ScheduleGroup"
GROUP_NAME_MAX_LENGTH = 64  # EventBridge Scheduler's limit
SCHEDULER_SERVICE = "scheduler.amazonaws.com"
FIRE_BATCH_SIZE = 10


class ScheduleArming(Construct):
    """The schedule group and the role its schedules assume to send to SCHEDULE_FIRE_QUEUE."""

    def __init__(self, scope: Construct, construct_id: str, *, fire_queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.fire_queue = fire_queue
        # Named after the stack, so two Spooled stacks in one account and region keep apart.
        group_name = f"{stack.stack_name}-schedules"
        if len(group_name) > GROUP_NAME_MAX_LENGTH:
            raise ValueError(f"stack name too long: schedule group {group_name!r} exceeds 64 characters")
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=group_name)
        self.group.override_logical_id(GROUP_LOGICAL_ID)
        self.sender_role = iam.Role(
            self,
            "SenderRole",
            # Only this account's scheduler may assume it (confused-deputy guard).
            assumed_by=iam.ServicePrincipal(
                SCHEDULER_SERVICE, conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="EventBridge Scheduler: send Spooled cron fires to the schedule-fire queue",
            inline_policies={
                "Send": iam.PolicyDocument(
                    # The queue uses SSE-SQS, so no KMS key grant is needed.
                    statements=[permissions.queue_send(fire_queue, schema.SCHEDULE_FIRE_QUEUE.logical_id)]
                )
            },
        )

    @property
    def group_name(self) -> str:
        return self.group.ref  # Ref of a schedule group is its name

    @property
    def schedules_arn(self) -> str:
        return permissions.schedules_in_group(cdk.Stack.of(self), self.group_name)

    def environment(self) -> dict[str, str]:
        """How the dispatcher arms a schedule: the group, the role to pass, the target queue."""
        return {
            schema.SCHEDULE_GROUP_ENV: self.group_name,
            schema.SCHEDULE_ROLE_ARN_ENV: self.sender_role.role_arn,
            schema.SCHEDULE_QUEUE_ARN_ENV: self.fire_queue.queue_arn,
        }

    def acknowledge_schedule_grants(self, role: IConstruct) -> None:
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>"
            f":schedule/<{GROUP_LOGICAL_ID}>/*]",
            "One EventBridge schedule per Spooled schedule, named from the schedule's id when the "
            "dispatcher first arms it, so the names are not known at deploy time; the wildcard is "
            "confined to this stack's own schedule group, and the actions are create, update "
            "and delete only.",
        )

    def dispatcher_statements(self) -> list[iam.PolicyStatement]:
        return [
            permissions.schedule_management(self.schedules_arn),
            permissions.pass_role_to(self.sender_role, "ScheduleSender", SCHEDULER_SERVICE),
        ]


def consume_fires(function: lambda_.IFunction, fire_queue: sqs.IQueue) -> None:
    # Partial batch responses: one fire that fails (a throttled write) is retried alone, the
    # others of the batch are not re-created (they are idempotent, but that costs writes).
    function.add_event_source(
        event_sources.SqsEventSource(fire_queue, batch_size=FIRE_BATCH_SIZE, report_batch_item_failures=True)
    )
