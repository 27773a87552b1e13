"""Organizations (tenants) and their first API key."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from shared.identity import expressions as ex
from shared.identity.credentials import api_key_item, hash_key, mint_key
from shared.plumbing import aws_clients, dynamo_codec, table_keys
from shared.plumbing.clock import Clock, SystemClock, to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.errors import Conflict


@dataclass(frozen=True)
class CreatedOrganization:
    organization: dict[str, Any]
    api_key: dict[str, Any]


DELETED_PLAN = "deleted"  # a soft-deleted organization (admin DELETE without hard=true)


def organization_item(table: str, org_id: str) -> dict[str, Any] | None:
    found = aws_clients.client("dynamodb").get_item(
        TableName=table, Key=table_keys.org_key(org_id), ConsistentRead=True
    )
    return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None


def is_active(org: dict[str, Any] | None) -> bool:
    """An organization that exists and was not soft-deleted: the only kind whose schedules fire,
    whose webhooks are sent and whose Lambda workers are invoked (issue 12, finding 9)."""
    return org is not None and org.get("plan_tier") != DELETED_PLAN


def organization_active(table: str, org_id: str) -> bool:
    return is_active(organization_item(table, org_id))


def new_webhook_token() -> str:
    # Contract §2.13: whk_ + base64url of 24 random bytes.
    return "whk_" + base64.urlsafe_b64encode(secrets.token_bytes(24)).rstrip(b"=").decode()


def _json_attribute(value: Any) -> Any:
    # settings and custom_limits are stored as JSON text: any JSON (floats included) round-trips.
    return json.loads(value) if isinstance(value, str) else value


def webhook_token_of(item: dict[str, Any]) -> str | None:
    """The organization's token for custom webhook ingestion (X-Webhook-Token), or None."""
    return item.get("webhook_token")


def organization_document(item: dict[str, Any], *, redact_webhook_token: bool = False) -> dict[str, Any]:
    settings_value = _json_attribute(item.get("settings")) or {}
    if isinstance(settings_value, dict):
        settings_value = dict(settings_value)
        settings_value.pop("webhook_token", None)
        if item.get("webhook_token") and not redact_webhook_token:
            settings_value["webhook_token"] = item["webhook_token"]
    return {
        "id": item["id"],
        "name": item["name"],
        "slug": item["slug"],
        "plan_tier": item.get("plan_tier", "enterprise"),
        "billing_email": item.get("billing_email"),
        "settings": settings_value,
        "custom_limits": _json_attribute(item.get("custom_limits")),
        "stripe_customer_id": item.get("stripe_customer_id"),
        "stripe_subscription_id": item.get("stripe_subscription_id"),
        "created_at": to_rfc3339(item["created_at"]),
        "updated_at": to_rfc3339(item.get("updated_at", item["created_at"])),
    }


def create_organization(
    name: str,
    slug: str,
    *,
    api_key: str | None = None,
    plan_tier: str = "enterprise",
    billing_email: str | None = None,
    table: str | None = None,
    clock: Clock | None = None,
    settings_value: dict[str, Any] | None = None,
    custom_limits: dict[str, Any] | None = None,
) -> CreatedOrganization:
    """Create an organization and its first, unrestricted key in one transaction.

    The slug item makes the slug unique: two registrations of one slug race on its condition. The
    billing e-mail is not unique: a 409 for an address another organization uses would tell anyone
    who tries an address that it is a customer (issue 12, finding 8). The key's id pointer makes
    the key reachable by id (GET /api-keys/{id}, JWTs); the organization counts the key as its
    first active one.
    """
    table = table or settings().table_name
    now_ms = (clock or SystemClock()).now_ms()
    org_id = str(uuid.uuid4())
    key = api_key or mint_key()
    key_id = str(uuid.uuid4())
    org = {
        **{k: v["S"] for k, v in table_keys.org_key(org_id).items()},
        "id": org_id,
        "name": name,
        "slug": slug,
        "plan_tier": plan_tier,
        "billing_email": billing_email,
        "settings": json.dumps(settings_value or {}),
        "custom_limits": json.dumps(custom_limits) if custom_limits is not None else None,
        "webhook_token": new_webhook_token(),
        "api_key_count": 1,
        "created_at": now_ms,
        "updated_at": now_ms,
        "org_pk": ex.ALL_ORGS_PARTITION,
        "created_sk": table_keys.created_sk(now_ms, org_id),
    }
    key_item = api_key_item(org_id=org_id, key=key, key_id=key_id, name="Initial Admin Key", now_ms=now_ms)
    pointer = ex.api_key_pointer_item(org_id, key_id, hash_key(key), now_ms)
    extra_puts = [{"Put": table_keys.put_new_item(table, pointer)}]
    try:
        aws_clients.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": dynamo_codec.encode_item(org),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": ex.claim_slug(table, slug, org_id)},
                {
                    "Put": {
                        "TableName": table,
                        "Item": dynamo_codec.encode_item(key_item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                *extra_puts,
            ]
        )
    except Exception as error:
        if getattr(error, "response", {}).get("Error", {}).get("Code") == "TransactionCanceledException":
            raise Conflict("Organization slug or API key already exists") from error
        raise
    return CreatedOrganization(
        organization=organization_document(org),
        api_key={
            "id": key_id,
            "key": key,
            "name": "Initial Admin Key",
            "created_at": to_rfc3339(now_ms),
            "queues": ["*"],
        },
    )
