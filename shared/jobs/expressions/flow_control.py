"""Keys and writes of per-queue flow control (shared/jobs/flow_control.py, docs/flow-control.md).

  token bucket  pk FLOW#{org}#{queue}  sk RATE#{shard}  tat: the bucket's theoretical arrival time (µs)
  slot holders  pk FLOW#{org}#{queue}  sk CONC#{shard}  held: how many; h#{job_id}: "{lease_id}|{reserved_ms}"

Every write is one conditional UpdateItem on one item, so any number of claimers race safely. Draws
and reservations push `expires_ttl` a week ahead: the items of a queue (or organization) that is
gone, or idle that long, leave by TTL (an idle bucket is full again anyway).
"""

from __future__ import annotations

from typing import Any


def flow_key(org_id: str, queue: str, kind: str, shard: int) -> dict[str, Any]:
    return {"pk": {"S": f"FLOW#{org_id}#{queue}"}, "sk": {"S": f"{kind}#{shard:02d}"}}


def take_from_full_bucket(
    table: str, org_id: str, queue: str, shard: int, now_us: int, cost_us: int, expires_s: int
) -> dict[str, Any]:
    """GCRA on a bucket that has refilled completely (or never existed): tat := now + cost."""
    return {
        "TableName": table,
        "Key": flow_key(org_id, queue, "RATE", shard),
        "UpdateExpression": "SET tat = :tat, expires_ttl = :ttl",
        "ConditionExpression": "attribute_not_exists(tat) OR tat <= :now",
        "ExpressionAttributeValues": {
            ":tat": {"N": str(now_us + cost_us)},
            ":now": {"N": str(now_us)},
            ":ttl": {"N": str(expires_s)},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def take_from_bucket(
    table: str, org_id: str, queue: str, shard: int, cost_us: int, latest_tat_us: int, expires_s: int
) -> dict[str, Any]:
    """tat += cost, only while tat + cost stays within the burst (tat <= now + burst - cost):
    a concurrent draw that got there first makes the condition fail instead of overdrawing."""
    return {
        "TableName": table,
        "Key": flow_key(org_id, queue, "RATE", shard),
        "UpdateExpression": "SET tat = tat + :cost, expires_ttl = :ttl",
        "ConditionExpression": "tat <= :latest",
        "ExpressionAttributeValues": {
            ":cost": {"N": str(cost_us)},
            ":latest": {"N": str(latest_tat_us)},
            ":ttl": {"N": str(expires_s)},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def refund_bucket(table: str, org_id: str, queue: str, shard: int, cost_us: int) -> dict[str, Any]:
    """Tokens drawn but not used (fewer jobs than granted). A refund can only move tat back, and a
    tat in the past reads as a full bucket, never more than the burst."""
    return {
        "TableName": table,
        "Key": flow_key(org_id, queue, "RATE", shard),
        "UpdateExpression": "SET tat = tat - :cost",
        "ConditionExpression": "attribute_exists(tat)",
        "ExpressionAttributeValues": {":cost": {"N": str(cost_us)}},
    }


def reserve_slot(
    table: str, org_id: str, queue: str, shard: int, job_id: str, holder: str, capacity: int, expires_s: int
) -> dict[str, Any]:
    """A slot for job_id, only while fewer than `capacity` are held: the count check, the count and
    the holder are one atomic write, so racing claimers cannot both take the last slot."""
    return {
        "TableName": table,
        "Key": flow_key(org_id, queue, "CONC", shard),
        "UpdateExpression": "SET #job = :holder, expires_ttl = :ttl ADD held :one",
        "ConditionExpression": (
            "(attribute_not_exists(held) OR held < :capacity) AND attribute_not_exists(#job)"
        ),
        "ExpressionAttributeNames": {"#job": holder_attribute(job_id)},
        "ExpressionAttributeValues": {
            ":holder": {"S": holder},
            ":capacity": {"N": str(capacity)},
            ":one": {"N": "1"},
            ":ttl": {"N": str(expires_s)},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def holder_attribute(job_id: str) -> str:
    return f"{HOLDER_PREFIX}{job_id}"


HOLDER_PREFIX = "h#"


def release_slot(
    table: str, org_id: str, queue: str, shard: int, job_id: str, lease_id: str
) -> dict[str, Any]:
    """Idempotent: only the holder of this very lease is removed (a replayed stream record, or a
    release racing a newer claim of the same job, removes nothing)."""
    return {
        "TableName": table,
        "Key": flow_key(org_id, queue, "CONC", shard),
        "UpdateExpression": "REMOVE #job ADD held :minus_one",
        "ConditionExpression": "begins_with(#job, :lease)",
        "ExpressionAttributeNames": {"#job": holder_attribute(job_id)},
        "ExpressionAttributeValues": {":lease": {"S": f"{lease_id}|"}, ":minus_one": {"N": "-1"}},
    }


def drop_holder(table: str, org_id: str, queue: str, shard: int, job_id: str, holder: str) -> dict[str, Any]:
    """The repair of a leaked slot: removed only if it still holds exactly what was checked."""
    return {
        "TableName": table,
        "Key": flow_key(org_id, queue, "CONC", shard),
        "UpdateExpression": "REMOVE #job ADD held :minus_one",
        "ConditionExpression": "#job = :holder",
        "ExpressionAttributeNames": {"#job": holder_attribute(job_id)},
        "ExpressionAttributeValues": {":holder": {"S": holder}, ":minus_one": {"N": "-1"}},
    }
