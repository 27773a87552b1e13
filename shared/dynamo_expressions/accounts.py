"""Accounts, API keys, tokens, queue configuration, rate limits and activity (contract §1.3, §1.6,
§2.3, §2.5, §2.12, §2.13)."""

from __future__ import annotations

from typing import Any

from shared import dynamo_codec
from shared.dynamo_expressions.builder import Update as _Update
from shared.dynamo_expressions.keys import (
    api_key_key,
    org_key,
    queue_config_key,
    queue_counter_key,
    worker_key,
)
from shared.job_states import JobStatus

S = JobStatus


# Keys of this module:
#   organization       pk ORG#{org}                       sk ORG     (org_pk ORGS lists them all)
#   slug claim         pk SLUG#{slug}                     sk SLUG
#   billing e-mail     pk EMAIL#{lower-case e-mail}       sk EMAIL
#   API key by id      pk APIKEYID#{org}#{key_id}         sk APIKEYID  → key_hash (immutable)
#   revoked JWT        pk REVOKED#{jti}                   sk REVOKED   (TTL = the token's exp)
#   rate window        pk RATE#{subject}                  sk W#{window start, epoch s}
#   activity bucket    pk ORG#{org}   sk ACT#{H|M}#{bucket start, epoch s}#{queue}

ALL_ORGS_PARTITION = "ORGS"  # by_org partition listing every organization (the admin API)


def slug_key(slug: str) -> dict[str, Any]:
    return {"pk": {"S": f"SLUG#{slug}"}, "sk": {"S": "SLUG"}}


def billing_email_key(email: str) -> dict[str, Any]:
    return {"pk": {"S": f"EMAIL#{email.strip().lower()}"}, "sk": {"S": "EMAIL"}}


def api_key_pointer_key(org_id: str, key_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEYID#{org_id}#{key_id}"}, "sk": {"S": "APIKEYID"}}


def revoked_token_key(jti: str) -> dict[str, Any]:
    return {"pk": {"S": f"REVOKED#{jti}"}, "sk": {"S": "REVOKED"}}


def rate_window_key(subject: str, window_start_s: int) -> dict[str, Any]:
    return {"pk": {"S": f"RATE#{subject}"}, "sk": {"S": f"W#{window_start_s:010d}"}}


def activity_sk(granularity: str, bucket_start_s: int, queue: str) -> str:
    return f"ACT#{granularity}#{bucket_start_s:010d}#{queue}"


def keys_by_org_pk(org_id: str) -> str:
    return f"KEYS#{org_id}"


def _uniqueness_claim(table: str, key: dict[str, Any], org_id: str) -> dict[str, Any]:
    # Two registrations of the same slug (or e-mail) race on this item: the first write wins and
    # the other transaction is cancelled whole, so no second organization is created.
    return {
        "TableName": table,
        "Item": {**key, "org_id": {"S": org_id}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def claim_slug(table: str, slug: str, org_id: str) -> dict[str, Any]:
    return _uniqueness_claim(table, slug_key(slug), org_id)


def claim_billing_email(table: str, email: str, org_id: str) -> dict[str, Any]:
    return _uniqueness_claim(table, billing_email_key(email), org_id)


def release_billing_email(table: str, email: str, org_id: str) -> dict[str, Any]:
    # Only the owner's claim: a stale read of the old address must not free another org's e-mail.
    return {
        "TableName": table,
        "Key": billing_email_key(email),
        "ConditionExpression": "org_id = :org",
        "ExpressionAttributeValues": {":org": {"S": org_id}},
    }


def put_new_item(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # Organizations, API keys and their id pointers are written once; an overwrite (a UUID or key
    # collision) would silently hand one tenant's credential to another.
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def api_key_pointer_item(org_id: str, key_id: str, key_hash: str, now_ms: int) -> dict[str, Any]:
    return {
        **{k: v["S"] for k, v in api_key_pointer_key(org_id, key_id).items()},
        "org_id": org_id,
        "key_id": key_id,
        "key_hash": key_hash,
        "created_at": now_ms,
    }


def count_in_organization(
    table: str, org_id: str, counter: str, delta: int, cap: int | None, now_ms: int
) -> dict[str, Any]:
    """A capped count on the organization item (active API keys, enabled webhooks, schedules) that
    moves in the same transaction as the item it counts. Two creations racing for the last free
    slot: the count condition lets exactly one through; a creation racing the organization's
    deletion finds it gone (or marked deleted) and fails."""
    u = _Update()
    u.adds.append(f"{u.n(counter)} {u.v('delta', delta)}")
    u.set("updated_at", now_ms)
    u.condition(f"attribute_exists({u.n('pk')})")
    u.condition(f"{u.n('plan_tier')} <> {u.v('deleted', 'deleted')}")
    if delta > 0 and cap is not None:
        u.condition(
            f"attribute_not_exists({u.n(counter)}) OR {u.n(counter)} <= {u.v('max_before', cap - delta)}"
        )
    return u.build(table, org_key(org_id))


def count_active_api_keys(
    table: str, org_id: str, delta: int, max_keys: int | None, now_ms: int
) -> dict[str, Any]:
    return count_in_organization(table, org_id, "api_key_count", delta, max_keys, now_ms)


def set_api_key_active(
    table: str, key_hash: str, *, org_id: str, active: bool, now_ms: int
) -> dict[str, Any]:
    # Revoke (or reactivate) only from the opposite state: a double revoke must not count twice.
    u = _Update()
    u.set("is_active", active).set("updated_at", now_ms)
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    u.condition(f"{u.n('is_active')} = {u.v('was_active', not active)}")
    return u.build(table, api_key_key(key_hash))


def update_api_key_fields(
    table: str, key_hash: str, *, org_id: str, fields: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    # The org condition keeps a key id guessed from another tenant from touching this key.
    u = _Update()
    for name, value in fields.items():
        u.set(name, value)
    u.set("updated_at", now_ms)
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    args = u.build(table, api_key_key(key_hash))
    args["ReturnValues"] = "ALL_NEW"
    return args


def touch_api_key_last_used(table: str, key_hash: str, now_ms: int, not_before_ms: int) -> dict[str, Any]:
    # Many requests of one key race here; the condition lets one write per 5 minutes through.
    return {
        "TableName": table,
        "Key": api_key_key(key_hash),
        "UpdateExpression": "SET last_used = :now",
        "ConditionExpression": (
            "attribute_exists(pk) AND (attribute_not_exists(last_used) OR last_used < :nb)"
        ),
        "ExpressionAttributeValues": dynamo_codec.encode_values({":now": now_ms, ":nb": not_before_ms}),
    }


def revoke_token(table: str, jti: str, expires_s: int, now_ms: int) -> dict[str, Any]:
    # Idempotent: logging out twice writes the same item. TTL removes it once the token is dead.
    item = {
        **{k: v["S"] for k, v in revoked_token_key(jti).items()},
        "revoked_at": now_ms,
        "expires_ttl": expires_s,
    }
    return {"TableName": table, "Item": dynamo_codec.encode_item(item)}


def count_request(
    table: str, subject: str, window_start_s: int, limit: int, expires_s: int
) -> dict[str, Any]:
    """Fixed-window rate limit: one ADD per request, refused by the condition once the window is
    full, so parallel requests can never push the count past the limit (a refused ADD writes
    nothing, and the request it belongs to is answered 429 before it touches anything else)."""
    return {
        "TableName": table,
        "Key": rate_window_key(subject, window_start_s),
        "UpdateExpression": "ADD #n :one SET expires_ttl = :ttl",
        "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": dynamo_codec.encode_values(
            {":one": 1, ":limit": limit, ":ttl": expires_s}
        ),
        "ReturnValues": "UPDATED_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


# --- organizations -------------------------------------------------------------------------


def update_organization(
    table: str, org_id: str, *, sets: dict[str, Any], removes: tuple[str, ...] = (), now_ms: int
) -> dict[str, Any]:
    # attribute_exists: an update racing a delete must not resurrect a half organization.
    u = _Update()
    for name, value in sets.items():
        u.set(name, value)
    if removes:
        u.remove(*removes)
    u.set("updated_at", now_ms)
    u.condition(f"attribute_exists({u.n('pk')})")
    args = u.build(table, org_key(org_id))
    args["ReturnValues"] = "ALL_NEW"
    return args


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


# --- queue configuration (contract §2.5, §3.7) --------------------------------------------


def upsert_queue_config(
    table: str,
    org_id: str,
    queue: str,
    *,
    config_id: str,
    sets: dict[str, Any],
    removes: tuple[str, ...] = (),
    defaults: dict[str, Any],
    now_ms: int,
) -> dict[str, Any]:
    """Create-or-update. Two concurrent upserts both succeed, field by field last-writer-wins; the
    id, created_at and any unset default are written only by whichever creates the item."""
    u = _Update()
    for name, value in sets.items():
        u.set(name, value)
    for name, value in defaults.items():
        placeholder = u.n(name)
        u.sets.append(f"{placeholder} = if_not_exists({placeholder}, {u.v('default_' + name, value)})")
    if removes:
        u.remove(*removes)
    for name, value in (("id", config_id), ("created_at", now_ms), ("org_id", org_id), ("queue_name", queue)):
        placeholder = u.n(name)
        u.sets.append(f"{placeholder} = if_not_exists({placeholder}, {u.v('init_' + name, value)})")
    u.set("updated_at", now_ms)
    args = u.build(table, queue_config_key(org_id, queue))
    args["ReturnValues"] = "ALL_NEW"
    return args


def resume_queue(table: str, org_id: str, queue: str, now_ms: int) -> dict[str, Any]:
    # Resume needs a config row (404 otherwise); ALL_OLD gives paused_at for the paused duration.
    u = _Update()
    u.set("enabled", True).set("updated_at", now_ms).remove("paused_at", "paused_reason")
    u.condition(f"attribute_exists({u.n('pk')})")
    args = u.build(table, queue_config_key(org_id, queue))
    args["ReturnValues"] = "ALL_OLD"
    return args


def delete_queue_config(table: str, org_id: str, queue: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": queue_config_key(org_id, queue),
        "ConditionExpression": "attribute_exists(pk)",
    }


# --- activity: counts kept from the stream for dashboards, queue stats and /metrics ---------


def add_to_activity_bucket(
    table: str,
    org_id: str,
    granularity: str,
    bucket_start_s: int,
    queue: str,
    counts: dict[str, int],
    expires_s: int,
) -> dict[str, Any]:
    # ADD is commutative: stream batches may land in any order, and a replayed batch over-counts
    # rather than loses (the stream is at-least-once).
    u = _Update()
    for name, value in counts.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    u.set("queue_name", queue).set("bucket_start", bucket_start_s).set("expires_ttl", expires_s)
    key = {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": activity_sk(granularity, bucket_start_s, queue)}}
    return u.build(table, key)


def add_to_queue_totals(table: str, org_id: str, queue: str, totals: dict[str, int]) -> dict[str, Any]:
    # Monotonic totals for Prometheus counters, on the queue's counter item (see add_to_queue_counters).
    u = _Update()
    for name, value in totals.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    u.set("queue_name", queue).set("org_id", org_id)
    return u.build(table, queue_counter_key(org_id, queue))


def add_to_worker_counts(table: str, worker_id: str, org_id: str, counts: dict[str, int]) -> dict[str, Any]:
    # Only an existing worker of the same organization: a claim by an unregistered worker id must
    # not create a phantom worker, nor credit another tenant's worker that happens to share the id.
    u = _Update()
    for name, value in counts.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    return u.build(table, worker_key(worker_id))


def query_activity(table: str, org_id: str, granularity: str, from_s: int, to_s: int) -> dict[str, Any]:
    # '~' sorts after every character a queue name may contain, so the range ends after to_s's buckets.
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"ORG#{org_id}"},
            ":low": {"S": f"ACT#{granularity}#{from_s:010d}"},
            ":high": {"S": f"ACT#{granularity}#{to_s:010d}#~"},
        },
    }
