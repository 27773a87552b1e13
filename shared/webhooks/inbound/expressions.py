"""Keys and expressions of the inbound webhook delivery log (contract §2.9, GET /webhooks/deliveries).

  delivery   pk ORG#{org}   sk INBOUND#{created_ms:015d}#{delivery_id}   (TTL expires_ttl)

In the organization's partition, so deleting the organization (which empties that partition)
takes its log with it, and the newest-first list with a `since` bound is one Query on the sort
key. The jobs themselves (and their idempotency items) are written by shared/jobs/store.py.
"""

from __future__ import annotations

from typing import Any

from shared.plumbing import dynamo_codec

PREFIX = "INBOUND#"
_AFTER_EVERY_ID = "~"  # sorts after the digits and UUIDs that follow the prefix


def org_partition(org_id: str) -> str:
    return f"ORG#{org_id}"


def delivery_sk(created_ms: int, delivery_id: str) -> str:
    # 15 digits, as the timer keys: string order is time order for any representable date.
    return f"{PREFIX}{created_ms:015d}#{delivery_id}"


def delivery_key(org_id: str, created_ms: int, delivery_id: str) -> dict[str, Any]:
    return {"pk": {"S": org_partition(org_id)}, "sk": {"S": delivery_sk(created_ms, delivery_id)}}


def put_delivery(
    table: str, org_id: str, created_ms: int, delivery_id: str, row: dict[str, Any]
) -> dict[str, Any]:
    # Written once per accepted request. The id is a fresh UUID, so the condition only guards
    # against an overwrite of another delivery's record, which would silently lose it.
    item = {**delivery_key(org_id, created_ms, delivery_id), **dynamo_codec.encode_item(row)}
    return {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}


def query_deliveries(
    table: str,
    org_id: str,
    *,
    since_ms: int | None = None,
    status: str | None = None,
    queue_name: str | None = None,
    page_size: int = 200,
    start_key: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One page of the log, newest first. The filters apply after Limit (as in any DynamoDB query),
    so callers page until they have enough rows. Consistent: a delivery shows up in the list the
    moment its request has been answered."""
    low = f"{PREFIX}{since_ms:015d}" if since_ms is not None else PREFIX
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ScanIndexForward": False,
        "ConsistentRead": True,
        "Limit": page_size,
    }
    values: dict[str, Any] = {":pk": org_partition(org_id), ":low": low, ":high": PREFIX + _AFTER_EVERY_ID}
    names: dict[str, str] = {}
    filters: list[str] = []
    if status is not None:
        names["#status"] = "status"
        values[":status"] = status
        filters.append("#status = :status")
    if queue_name is not None:
        names["#queue"] = "matched_queue"
        values[":queue"] = queue_name
        filters.append("#queue = :queue")
    if filters:
        args["FilterExpression"] = " AND ".join(filters)
        args["ExpressionAttributeNames"] = names
    args["ExpressionAttributeValues"] = dynamo_codec.encode_values(values)
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args
