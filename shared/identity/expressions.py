"""Accounts, API keys, tokens and rate limits (contract §1.3, §1.6, §2.3, §2.12, §2.13); queue
configuration and activity are the job domain's (shared/jobs/expressions/queues.py)."""

from __future__ import annotations

from typing import Any

from shared.plumbing import dynamo_codec
from shared.plumbing.table_keys import org_key
from shared.plumbing.update_builder import Update as _Update

# Keys of this module:
#   organization       pk ORG#{org}                       sk ORG     (org_pk ORGS lists them all)
#   slug claim         pk SLUG#{slug}                     sk SLUG
#   billing e-mail     pk EMAIL#{lower-case e-mail}       sk EMAIL   (written before issue 12; purged only)
#   API key by id      pk APIKEYID#{org}#{key_id}         sk APIKEYID  → key_hash (immutable)
#   revoked JWT        pk REVOKED#{jti}                   sk REVOKED   (TTL = the token's exp)
#   token family       pk RFAM#{family}                   sk RFAM      one login: rotation, revocation
#   rate window        pk RATE#{subject}                  sk W#{window start, epoch s}

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


def keys_by_org_pk(org_id: str) -> str:
    return f"KEYS#{org_id}"


def _uniqueness_claim(table: str, key: dict[str, Any], org_id: str) -> dict[str, Any]:
    # Two registrations of the same slug race on this item: the first write wins and
    # the other transaction is cancelled whole, so no second organization is created.
    return {
        "TableName": table,
        "Item": {**key, "org_id": {"S": org_id}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def claim_slug(table: str, slug: str, org_id: str) -> dict[str, Any]:
    return _uniqueness_claim(table, slug_key(slug), org_id)


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


def token_family_key(family: str) -> dict[str, Any]:
    return {"pk": {"S": f"RFAM#{family}"}, "sk": {"S": "RFAM"}}


def create_token_family(table: str, family: str, org_id: str, expires_s: int, now_ms: int) -> dict[str, Any]:
    item = {
        **{k: v["S"] for k, v in token_family_key(family).items()},
        "org_id": org_id,
        "used_gen": 0,
        "created_at": now_ms,
        "expires_ttl": expires_s,
    }
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def use_refresh_token(table: str, family: str, gen: int, expires_s: int) -> dict[str, Any]:
    """Refresh-token rotation: presenting generation `gen` is accepted unless a later generation was
    already presented (then `gen` is a stolen or replayed token: reuse) or the family is revoked.
    Racing refreshes with the same token both pass: one client retrying. The answer's
    next_gen is the generation of the refresh token it issues."""
    return {
        "TableName": table,
        "Key": token_family_key(family),
        "UpdateExpression": "SET used_gen = :gen, expires_ttl = :ttl ADD next_gen :one",
        "ConditionExpression": (
            "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND used_gen <= :gen"
        ),
        "ExpressionAttributeValues": dynamo_codec.encode_values({":gen": gen, ":one": 1, ":ttl": expires_s}),
        "ReturnValues": "ALL_NEW",
    }


def revoke_token_family(table: str, family: str, reason: str, now_ms: int) -> dict[str, Any]:
    # Every token of the session stops working: refresh tokens here, access tokens through the
    # family read that comes with each JWT request. The stream shows it to the live-updates
    # function, which closes the session's sockets.
    return {
        "TableName": table,
        "Key": token_family_key(family),
        "UpdateExpression": "SET revoked_at = if_not_exists(revoked_at, :now), revoked_reason = :why",
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeValues": dynamo_codec.encode_values({":now": now_ms, ":why": reason}),
    }


def count_requests(
    table: str, subject: str, window_start_s: int, expires_s: int, requests: int
) -> dict[str, Any]:
    """Fixed-window rate limit: one ADD of the requests a container admitted since its last one,
    returning the window's count. Unconditional: those requests were admitted already (all but
    the last), and two containers adding at once must both be counted; ADD is what makes the
    count exact under any concurrency, and the caller refuses its request if the count it gets
    back is over the limit."""
    return {
        "TableName": table,
        "Key": rate_window_key(subject, window_start_s),
        "UpdateExpression": "ADD #n :added SET expires_ttl = :ttl",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": dynamo_codec.encode_values({":added": requests, ":ttl": expires_s}),
        "ReturnValues": "UPDATED_NEW",
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


# --- API keys -------------------------------------------------------------------------------


def api_key_key(key_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEY#{key_hash}"}, "sk": {"S": "APIKEY"}}
