"""The queries that find jobs: an organization's job partitions (listing), a queue's ready shards
(claims) and its due timers (the sweep and wakes). Reads only: no race to guard, but each says
whether it must be consistent."""

from __future__ import annotations

from typing import Any

from shared.jobs.expressions.keys import job_partition, ready_pk, timer_pk
from shared.plumbing import schema
from shared.plumbing.table_keys import TIMER_DIGITS

READY = schema.READY_INDEX
TIMERS = schema.TIMER_INDEX


def query_job_partition(
    table: str,
    org_id: str,
    shard: int,
    limit: int,
    *,
    queue: str | None = None,
    start_key: dict[str, Any] | None = None,
    oldest_first: bool = False,
    projection: str | None = None,
) -> dict[str, Any]:
    """One of an organization's job partitions, newest first (the sort key is the time-ordered
    id), read consistently: a job is listed as soon as its create returns. With `queue`, filtered
    on queue_name (a page may then come back empty with more to read); `projection` names the
    attributes wanted (#status for status)."""
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "pk"},
        "ExpressionAttributeValues": {":pk": {"S": job_partition(org_id, shard)}},
        "ScanIndexForward": oldest_first,
        "ConsistentRead": True,
        "Limit": limit,
    }
    if queue is not None:
        args["FilterExpression"] = "#queue = :queue"
        args["ExpressionAttributeNames"]["#queue"] = "queue_name"
        args["ExpressionAttributeValues"][":queue"] = {"S": queue}
    if projection is not None:
        args["ProjectionExpression"] = projection
        if "#status" in projection:
            args["ExpressionAttributeNames"]["#status"] = "status"
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


def query_ready(table: str, org_id: str, queue: str, shard: int, limit: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "IndexName": READY.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": READY.partition_key.name},
        "ExpressionAttributeValues": {":pk": {"S": ready_pk(org_id, queue, shard)}},
        "Limit": limit,
    }


def query_due_timers(table: str, org_id: str, queue: str, now_ms: int, limit: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "IndexName": TIMERS.name,
        "KeyConditionExpression": "#pk = :pk AND #sk < :upper",
        "ExpressionAttributeNames": {"#pk": TIMERS.partition_key.name, "#sk": TIMERS.sort_key.name},
        "ExpressionAttributeValues": {
            ":pk": {"S": timer_pk(org_id, queue)},
            # every timer due at or before now sorts below "{now+1}"
            ":upper": {"S": f"{now_ms + 1:0{TIMER_DIGITS}d}"},
        },
        "Limit": limit,
    }
