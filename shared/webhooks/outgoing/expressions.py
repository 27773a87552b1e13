"""Keys and expressions of outgoing webhooks and their deliveries (contract §2.10, §3.11, §3.6).

  webhook              pk OUTHOOK#{org}#{id}   sk OUTHOOK          (by_org WEBHOOKS#{org}, created_sk)
  subscription         pk OUTHOOKS#{org}       sk SUB#{id}         events + enabled, for the fan-out
  delivery             pk OUTHOOK#{org}#{id}   sk DELIVERY#{created_ms:015d}#{delivery_id}  (TTL)
  completion delivery  pk JOBHOOK#{org}#{job}  sk DELIVERY#{created_ms:015d}#{delivery_id}  (TTL)
  enabled-webhook count: `webhook_count` on the organization item (the max_webhooks cap)

The subscription rows of an organization share one partition, so the stream fan-out learns which
webhooks want which events with one Query (an org without webhooks: one empty Query). They change
only in the same transaction as their webhook. A delivery row is the state of one delivery: each
attempt is claimed on it first (a conditional write naming the attempt), so an attempt reaches
the receiver once however often SQS or a replayed stream batch repeats its message.
"""

from __future__ import annotations

from typing import Any

from shared.identity.expressions import count_in_organization
from shared.jobs.expressions import job_key
from shared.plumbing import dynamo_codec
from shared.plumbing.update_builder import Update

WEBHOOK_SK = "OUTHOOK"
DELIVERY_PREFIX = "DELIVERY#"


# --- keys ----------------------------------------------------------------------------------


def webhook_key(org_id: str, webhook_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"OUTHOOK#{org_id}#{webhook_id}"}, "sk": {"S": WEBHOOK_SK}}


def subscriptions_pk(org_id: str) -> str:
    return f"OUTHOOKS#{org_id}"


def subscription_key(org_id: str, webhook_id: str) -> dict[str, Any]:
    return {"pk": {"S": subscriptions_pk(org_id)}, "sk": {"S": f"SUB#{webhook_id}"}}


def webhooks_by_org_pk(org_id: str) -> str:
    # shared/operations/usage.py counts this by_org partition.
    return f"WEBHOOKS#{org_id}"


def delivery_sk(created_ms: int, delivery_id: str) -> str:
    return f"{DELIVERY_PREFIX}{created_ms:015d}#{delivery_id}"


def delivery_key(org_id: str, webhook_id: str, delivery_id: str, created_ms: int) -> dict[str, Any]:
    return {"pk": {"S": f"OUTHOOK#{org_id}#{webhook_id}"}, "sk": {"S": delivery_sk(created_ms, delivery_id)}}


def completion_delivery_key(org_id: str, job_id: str, delivery_id: str, created_ms: int) -> dict[str, Any]:
    return {"pk": {"S": f"JOBHOOK#{org_id}#{job_id}"}, "sk": {"S": delivery_sk(created_ms, delivery_id)}}


# --- webhooks: create, update, delete (each one transaction) --------------------------------


def put_webhook(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # A UUID collision would silently replace another webhook (and its secret).
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def put_subscription(
    table: str, org_id: str, webhook_id: str, *, events: list[str], enabled: bool, created_ms: int
) -> dict[str, Any]:
    # Unconditional: it is written only beside its webhook's conditional put, in one transaction.
    item = {
        **subscription_key(org_id, webhook_id),
        **dynamo_codec.encode_item(
            {"webhook_id": webhook_id, "events": events, "enabled": enabled, "created_at": created_ms}
        ),
    }
    return {"TableName": table, "Item": item}


def update_webhook(
    table: str,
    org_id: str,
    webhook_id: str,
    *,
    sets: dict[str, Any],
    removes: tuple[str, ...],
    seen_enabled: bool,
    now_ms: int,
) -> dict[str, Any]:
    """The enabled-webhook count moves in the same transaction when `enabled` changes. An update
    racing a delete, an auto-disable or another toggle fails here (the flag is not what was read),
    so the count never moves twice for one change."""
    u = Update()
    for name, value in sets.items():
        u.set(name, value)
    if removes:
        u.remove(*removes)
    u.set("updated_at", now_ms)
    u.condition(f"attribute_exists({u.n('pk')})")
    u.condition(f"{u.n('enabled')} = {u.v('seen_enabled', seen_enabled)}")
    return u.build(table, webhook_key(org_id, webhook_id))


def update_subscription(
    table: str, org_id: str, webhook_id: str, *, events: list[str], enabled: bool
) -> dict[str, Any]:
    # Only beside update_webhook or auto_disable, whose conditions guard the pair.
    u = Update()
    u.set("events", events).set("enabled", enabled)
    return u.build(table, subscription_key(org_id, webhook_id))


def delete_webhook(table: str, org_id: str, webhook_id: str, *, seen_enabled: bool) -> dict[str, Any]:
    # Two deletes (or a delete and an auto-disable) race: one wins, the count moves once.
    return {
        "TableName": table,
        "Key": webhook_key(org_id, webhook_id),
        "ConditionExpression": "attribute_exists(pk) AND enabled = :seen",
        "ExpressionAttributeValues": {":seen": {"BOOL": seen_enabled}},
    }


def delete_subscription(table: str, org_id: str, webhook_id: str) -> dict[str, Any]:
    return {"TableName": table, "Key": subscription_key(org_id, webhook_id)}


def count_enabled_webhooks(
    table: str, org_id: str, delta: int, max_enabled: int | None, now_ms: int
) -> dict[str, Any]:
    return count_in_organization(table, org_id, "webhook_count", delta, max_enabled, now_ms)


def auto_disable(table: str, org_id: str, webhook_id: str, *, threshold: int, now_ms: int) -> dict[str, Any]:
    """enabled → disabled after `threshold` consecutive failed deliveries. A success that reset the
    count, a user who disabled or deleted the webhook meanwhile: the condition fails, nothing moves."""
    u = Update()
    u.set("enabled", False).set("last_status", "auto_disabled").set("updated_at", now_ms)
    u.condition(f"{u.n('enabled')} = {u.v('was_enabled', True)}")
    u.condition(f"{u.n('failure_count')} >= {u.v('threshold', threshold)}")
    return u.build(table, webhook_key(org_id, webhook_id))


def record_webhook_attempt(
    table: str,
    org_id: str,
    webhook_id: str,
    *,
    success: bool,
    delivery_over: bool,
    only_if_enabled: bool,
    now_ms: int,
) -> dict[str, Any]:
    """last_triggered_at/last_status after every attempt; failure_count when a delivery is over
    (reset by a success, +1 by a delivery that gave up). ADD and SET commute with concurrent
    deliveries, and attribute_exists keeps a deleted webhook deleted. only_if_enabled: an
    automatic attempt that ends after its webhook was disabled must not overwrite auto_disabled."""
    u = Update()
    u.set("last_triggered_at", now_ms).set("last_status", "success" if success else "failed")
    if success:
        u.set("failure_count", 0)
    elif delivery_over:
        u.adds.append(f"{u.n('failure_count')} {u.v('one', 1)}")
    u.condition(f"attribute_exists({u.n('pk')})")
    if only_if_enabled:
        u.condition(f"{u.n('enabled')} = {u.v('enabled', True)}")
    args = u.build(table, webhook_key(org_id, webhook_id))
    args["ReturnValues"] = "ALL_NEW"
    return args


def query_subscriptions(table: str, org_id: str, *, consistent: bool) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": subscriptions_pk(org_id)}},
        "ConsistentRead": consistent,
    }
    return args


# --- deliveries ----------------------------------------------------------------------------


def claim_attempt(
    table: str,
    key: dict[str, Any],
    *,
    attempt: int,
    claim: str,
    claim_until_ms: int,
    first_write: dict[str, Any],
    now_ms: int,
) -> dict[str, Any]:
    """Attempt n of a delivery, claimed before the request is sent. Passes when the delivery is new
    (n = 1) or its attempt n - 1 was recorded as failed, and again when a claim of attempt n was
    abandoned (its Lambda died; SQS brings the message back after claim_until). A duplicate message,
    or a replayed stream batch, finds the attempt taken or done and changes nothing.
    first_write: the delivery's fixed fields, written by whichever attempt creates the row."""
    u = Update()
    u.set("attempts", attempt).set("status", "pending").set("claim", claim)
    u.set("claim_until", claim_until_ms).set("updated_at", now_ms)
    for name, value in first_write.items():
        placeholder = u.n(name)
        u.sets.append(f"{placeholder} = if_not_exists({placeholder}, {u.v('init_' + name, value)})")
    attempts, status, claim_until = u.n("attempts"), u.n("status"), u.n("claim_until")
    pending, now = u.v("pending", "pending"), u.v("now", now_ms)
    abandoned = f"({attempts} = {u.v('attempt', attempt)} AND {status} = {pending} AND {claim_until} < {now})"
    if attempt == 1:
        u.condition(f"attribute_not_exists({u.n('pk')}) OR {abandoned}")
    else:
        previous = (
            f"({attempts} = {u.v('previous', attempt - 1)} AND {status} = {pending}"
            f" AND attribute_not_exists({u.n('claim')}))"
        )
        u.condition(f"{previous} OR {abandoned}")
    args = u.build(table, key)
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def claim_manual_retry(
    table: str, key: dict[str, Any], *, claim: str, claim_until_ms: int, now_ms: int
) -> dict[str, Any]:
    """A retry asked for through the API: one more attempt on an existing delivery, unless an attempt
    is in flight. Raising `attempts` makes any automatic attempt still queued for this delivery
    find its number taken: the manual attempt's result is the delivery's last word."""
    u = Update()
    u.adds.append(f"{u.n('attempts')} {u.v('one', 1)}")
    u.set("claim", claim).set("claim_until", claim_until_ms).set("updated_at", now_ms)
    u.condition(f"attribute_exists({u.n('pk')})")
    u.condition(f"attribute_not_exists({u.n('claim')}) OR {u.n('claim_until')} < {u.v('now', now_ms)}")
    args = u.build(table, key)
    args["ReturnValues"] = "ALL_NEW"
    return args


def record_attempt(
    table: str,
    key: dict[str, Any],
    *,
    claim: str,
    status: str,
    status_code: int | None,
    response_body: str | None,
    error: str | None,
    now_ms: int,
) -> dict[str, Any]:
    """The outcome of the attempt this claim took. Fenced on the claim: if the attempt was given up
    for dead and claimed again, the late outcome of the first one is not recorded over it."""
    u = Update()
    u.set("status", status).set("status_code", status_code).set("response_body", response_body)
    u.set("error", error).set("updated_at", now_ms)
    if status == "success":
        u.set("delivered_at", now_ms)
    u.remove("claim", "claim_until")
    u.condition(f"{u.n('claim')} = {u.v('claim', claim)}")
    return u.build(table, key)


def query_newest_deliveries(table: str, org_id: str, webhook_id: str, limit: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"OUTHOOK#{org_id}#{webhook_id}"},
            ":prefix": {"S": DELIVERY_PREFIX},
        },
        "ScanIndexForward": False,
        "Limit": limit,
        "ConsistentRead": True,
    }


def job_completion_target(table: str, org_id: str, job_id: str) -> dict[str, Any]:
    """The job's completion webhook and its secret, read when the delivery is made, so the secret
    never travels in a queue message."""
    return {
        "TableName": table,
        "Key": job_key(org_id, job_id),
        "ProjectionExpression": "completion_webhook, completion_webhook_secret",
        "ConsistentRead": True,
    }
