"""Keys and writes of live-update connections (docs/live-updates.md).

  connection         pk LIVE#{org}                sk CONN#{connection_id}   filters, scope, TTL
  connection pointer pk LIVECONN#{connection_id}  sk LIVECONN               → org_id

The fan-out lists an organization's connections with one consistent Query of its LIVE partition.
API Gateway's $default and $disconnect events carry only the connection id, so the pointer finds
the organization. Both items carry `expires_ttl` (API Gateway closes a connection after 2 h).
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.plumbing import dynamo_codec


def connections_pk(org_id: str) -> str:
    return f"LIVE#{org_id}"


def connection_key(org_id: str, connection_id: str) -> dict[str, Any]:
    return {"pk": {"S": connections_pk(org_id)}, "sk": {"S": f"CONN#{connection_id}"}}


def pointer_key(connection_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"LIVECONN#{connection_id}"}, "sk": {"S": "LIVECONN"}}


def _put_absent(table: str, key: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": {**key, **dynamo_codec.encode_item(item)},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def put_connection(
    table: str,
    org_id: str,
    connection_id: str,
    item: dict[str, Any],
    subscriptions: list[str],
    expires_s: int,
) -> dict[str, Any]:
    """TransactWriteItems kwargs: the connection and its pointer, both or neither. API Gateway never
    reuses a connection id, so an item already there can only be this same $connect delivered
    twice; the condition keeps that replay from overwriting subscriptions made meanwhile."""
    connection = {**item, "expires_ttl": expires_s}
    key = connection_key(org_id, connection_id)
    put = _put_absent(table, key, connection)
    if subscriptions:
        put["Put"]["Item"]["subs"] = {"SS": subscriptions}
    pointer = _put_absent(
        table,
        pointer_key(connection_id),
        {"org_id": org_id, "connection_id": connection_id, "expires_ttl": expires_s},
    )
    return {"TransactItems": [put, pointer]}


def get_pointer(table: str, connection_id: str) -> dict[str, Any]:
    # Consistent: a command sent right after the handshake must find the pointer just written.
    return {"TableName": table, "Key": pointer_key(connection_id), "ConsistentRead": True}


def get_connection(table: str, org_id: str, connection_id: str) -> dict[str, Any]:
    # Consistent: a subscribe must see the scope stored by the $connect just before it.
    return {"TableName": table, "Key": connection_key(org_id, connection_id), "ConsistentRead": True}


def add_subscription(
    table: str, org_id: str, connection_id: str, subscription: str, max_subscriptions: int
) -> dict[str, Any]:
    """ADD to a string set is idempotent, so a command the client re-sends after a reconnect adds
    nothing twice. attribute_exists: a subscribe racing the disconnect must not leave a headless
    connection item behind; the size bound is checked in the same write that adds."""
    return {
        "TableName": table,
        "Key": connection_key(org_id, connection_id),
        "UpdateExpression": "ADD #subs :sub",
        "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(#subs) OR size(#subs) < :max)",
        "ExpressionAttributeNames": {"#subs": "subs"},
        "ExpressionAttributeValues": {":sub": {"SS": [subscription]}, ":max": {"N": str(max_subscriptions)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def remove_subscription(
    table: str, org_id: str, connection_id: str, subscription: str | None
) -> dict[str, Any]:
    """DELETE from a set is idempotent too; None removes every subscription. attribute_exists as in
    add_subscription: an unsubscribe after the disconnect writes nothing."""
    args: dict[str, Any] = {
        "TableName": table,
        "Key": connection_key(org_id, connection_id),
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": {"#subs": "subs"},
    }
    if subscription is None:
        args["UpdateExpression"] = "REMOVE #subs"
    else:
        args["UpdateExpression"] = "DELETE #subs :sub"
        args["ExpressionAttributeValues"] = {":sub": {"SS": [subscription]}}
    return args


def delete_connection(table: str, org_id: str, connection_id: str) -> dict[str, Any]:
    # No condition: ids are never reused, so deleting twice (a $disconnect after the fan-out met
    # GoneException) can only delete the same dead connection again.
    return {"TableName": table, "Key": connection_key(org_id, connection_id)}


def delete_pointer(table: str, connection_id: str) -> dict[str, Any]:
    return {"TableName": table, "Key": pointer_key(connection_id)}


def query_connections(table: str, org_id: str, start_key: dict[str, Any] | None = None) -> dict[str, Any]:
    # Consistent: a client that connected a moment ago must get the frames of the next batch.
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": connections_pk(org_id)}, ":prefix": {"S": "CONN#"}},
        "ConsistentRead": True,
    }
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


def count_live_connections(table: str, org_id: str, now_ms: int) -> dict[str, Any]:
    """The per-organization connection cap counts only connections still valid: TTL can take up to
    48 h to delete an item whose $disconnect never arrived."""
    args = query_connections(table, org_id)
    args["Select"] = "COUNT"
    args["FilterExpression"] = "valid_until > :now"
    args["ExpressionAttributeValues"][":now"] = {"N": str(now_ms)}
    return args


# --- the per-organization event log that server-sent events read (docs/sse.md) ------------------
#
#   log entry   pk LIVELOG#{org}   sk {written_ms:013d}#{batch}   frames (JSON), TTL
#   resume      pk SSECUR#{key}    sk sha256({stream})            position, TTL


def log_pk(org_id: str) -> str:
    return f"LIVELOG#{org_id}"


def put_log_entry(table: str, org_id: str, sk: str, frames_json: str, expires_s: int) -> dict[str, Any]:
    # No condition: the sort key is unique to this batch and organization (a replayed batch gets a
    # new one, which is the at-least-once of every stream consumer).
    item = {"pk": log_pk(org_id), "sk": sk, "frames": frames_json, "expires_ttl": expires_s}
    return {"TableName": table, "Item": dynamo_codec.encode_item(item)}


def query_log(
    table: str, org_id: str, from_sk: str, to_sk: str, start_key: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Entries with from_sk <= sk <= to_sk, oldest first. Consistent: the base table, no index."""
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
        "ExpressionAttributeValues": {
            ":pk": {"S": log_pk(org_id)},
            ":from": {"S": from_sk},
            ":to": {"S": to_sk},
        },
        "ConsistentRead": True,
    }
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


def resume_key(credential: str, stream: str) -> dict[str, Any]:
    # Hashed: a stream is a path plus whatever query the client sent, and a sort key stops at 1 KB.
    digest = hashlib.sha256(stream.encode("utf-8")).hexdigest()
    return {"pk": {"S": f"SSECUR#{credential}"}, "sk": {"S": digest}}


def put_resume(table: str, credential: str, stream: str, position: str, expires_s: int) -> dict[str, Any]:
    item = {"position": position, "expires_ttl": expires_s}
    return {"TableName": table, "Item": {**resume_key(credential, stream), **dynamo_codec.encode_item(item)}}


def get_resume(table: str, credential: str, stream: str) -> dict[str, Any]:
    return {"TableName": table, "Key": resume_key(credential, stream), "ConsistentRead": True}
