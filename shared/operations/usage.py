"""An organization's usage against its limits (GET /organizations/usage, the admin API).

Every number comes from a maintained count or a bounded read, never a scan of jobs: status
counters (active jobs, queues), hourly activity buckets (jobs today), the organization item's
active-key count, the worker registry of the organization, and a COUNT over the by_org index
partitions where the schedule, workflow and webhook issues keep their items.
"""

from __future__ import annotations

from typing import Any

from shared.identity import plan_limits
from shared.jobs.queues import activity as job_activity
from shared.jobs.queues import counters as queue_counters
from shared.jobs.queues.config import QueueConfigService
from shared.jobs.workers.directory import WorkerDirectory
from shared.plumbing import aws_clients, schema
from shared.plumbing.clock import Clock

ACTIVE_JOB_STATUSES = ("pending", "scheduled", "processing")
# by_org partitions of the other resources, by the convention of JOBS#/WORKERS#/KEYS# (index keys
# are written once per item, so the count is one COUNT query each).
OTHER_RESOURCE_PARTITIONS = {"schedules": "SCHEDULES#", "workflows": "WORKFLOWS#", "webhooks": "WEBHOOKS#"}


def _count_partition(table: str, partition: str) -> int:
    db = aws_clients.client("dynamodb")
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": schema.BY_ORG_INDEX.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": schema.BY_ORG_INDEX.partition_key.name},
        "ExpressionAttributeValues": {":pk": {"S": partition}},
        "Select": "COUNT",
    }
    total = 0
    while True:
        response = db.query(**args)
        total += int(response.get("Count", 0))
        if "LastEvaluatedKey" not in response:
            return total
        args["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def current(table: str, org: dict[str, Any], clock: Clock) -> dict[str, int]:
    """The count of every resource the limits name."""
    org_id = org["id"]
    now_ms = clock.now_ms()
    counts = queue_counters.read_counts(table, org_id)
    queues = set(counts)
    queues |= set(QueueConfigService(table, clock).overview(org_id)[0])
    workers = WorkerDirectory(table, clock).status_counts(org_id)
    usage = {
        "jobs_today": job_activity.total(
            job_activity.today(table, org_id, now_ms, org.get("usage_reset_at"), set(counts)), "created"
        ),
        "active_jobs": sum(c.get(s, 0) for c in counts.values() for s in ACTIVE_JOB_STATUSES),
        "queues": len(queues),
        "workers": workers.get("healthy", 0) + workers.get("degraded", 0),
        "api_keys": max(0, int(org.get("api_key_count", 0))),
    }
    for resource, prefix in OTHER_RESOURCE_PARTITIONS.items():
        usage[resource] = _count_partition(table, f"{prefix}{org_id}")
    return usage


def document(table: str, org: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """UsageInfo: {plan, plan_display_name, limits, usage, warnings}."""
    limits = plan_limits.for_organization(org)
    counts = current(table, org, clock)
    usage = {
        resource: plan_limits.usage_item(counts[resource], getattr(limits, field))
        for resource, field in plan_limits.COUNTED_RESOURCES
    }
    return {
        "plan": limits.tier,
        "plan_display_name": limits.display_name,
        "limits": limits.document(),
        "usage": usage,
        "warnings": plan_limits.warnings(usage),
    }
