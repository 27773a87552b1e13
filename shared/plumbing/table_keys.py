"""Keys and queries of the one table that every domain shares.

The organization item, the creation-ordered sort keys of the listing indexes, the timers index's
sort key and the generic index queries. Each domain's own keys live in its expressions module.
"""

from __future__ import annotations

from typing import Any

from shared.plumbing import dynamo_codec, schema

TIMERS = schema.TIMER_INDEX


def health_probe_key() -> dict[str, Any]:
    # Never written: health probes read it to prove the table answers.
    return {"pk": {"S": "HEALTH"}, "sk": {"S": "HEALTH"}}


def org_key(org_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": "ORG"}}


# Due times are zero-padded to 15 digits so that string order is time order up to the year 9999
# (the latest datetime a request can carry). At 13 digits a delay or expires_at past 2286 sorted
# among the due timers and crowded the queue's real due jobs out of every promote_due page.
TIMER_DIGITS = 15


def timer_sk(due_ms: int, job_id: str) -> str:
    return f"{due_ms:0{TIMER_DIGITS}d}#{job_id}"


def created_sk(created_ms: int, item_id: str) -> str:
    return f"{created_ms:013d}#{item_id}"


def query_newest_first(
    table: str,
    index: schema.GlobalIndex,
    partition: str,
    limit: int,
    start_key: dict[str, Any] | None = None,
    oldest_first: bool = False,
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": index.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": index.partition_key.name},
        "ExpressionAttributeValues": {":pk": {"S": partition}},
        "ScanIndexForward": oldest_first,
        "Limit": limit,
    }
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


def query_timer_partition(
    table: str,
    partition: str,
    *,
    status: str | None = None,
    due_by_ms: int | None = None,
    limit: int | None = None,
    start_key: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Entries of one timers-index partition (a queue's timers, the live-worker registry, due
    schedules, open workflows), oldest due first: optionally only those due by `due_by_ms` and in
    one status (the index projects status)."""
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": TIMERS.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": TIMERS.partition_key.name},
        "ExpressionAttributeValues": {":pk": {"S": partition}},
    }
    if due_by_ms is not None:
        args["KeyConditionExpression"] += " AND #sk < :upper"
        args["ExpressionAttributeNames"]["#sk"] = TIMERS.sort_key.name
        args["ExpressionAttributeValues"][":upper"] = {"S": f"{due_by_ms + 1:0{TIMER_DIGITS}d}"}
    if status is not None:
        args["FilterExpression"] = "#status = :status"
        args["ExpressionAttributeNames"]["#status"] = "status"
        args["ExpressionAttributeValues"][":status"] = {"S": status}
    if limit is not None:
        args["Limit"] = limit
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


def query_partition_keys(table: str, pk: str) -> dict[str, Any]:
    # Every item of one partition, keys only (deleting an organization's partition).
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ProjectionExpression": "pk, sk",
        "ConsistentRead": True,
    }


def put_new_item(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # Organizations, API keys and their id pointers are written once; an overwrite (a UUID or key
    # collision) would silently hand one tenant's credential to another.
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def query_partition(
    table: str, pk: str, sk_prefix: str, *, start_key: dict[str, Any] | None = None, consistent: bool = True
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
        "ConsistentRead": consistent,
    }
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args
