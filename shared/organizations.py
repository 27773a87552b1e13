"""Organizations (tenants) and their first API key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared import aws_clients, dynamo_codec
from shared import dynamo_expressions as ex
from shared.auth import api_key_item, mint_key
from shared.clock import Clock, SystemClock, to_rfc3339
from shared.config import settings
from shared.errors import Conflict


@dataclass(frozen=True)
class CreatedOrganization:
    organization: dict[str, Any]
    api_key: dict[str, Any]


def organization_document(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "name": item["name"],
        "slug": item["slug"],
        "plan_tier": item.get("plan_tier", "enterprise"),
        "billing_email": item.get("billing_email"),
        "settings": item.get("settings") or {},
        "custom_limits": None,
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
) -> CreatedOrganization:
    """Create an organization and its first, unrestricted key in one transaction.

    The slug item makes the slug unique: two registrations of one slug race on its condition.
    """
    table = table or settings().table_name
    now_ms = (clock or SystemClock()).now_ms()
    org_id = str(uuid.uuid4())
    key = api_key or mint_key()
    key_id = str(uuid.uuid4())
    org = {
        **{k: v["S"] for k, v in ex.org_key(org_id).items()},
        "id": org_id,
        "name": name,
        "slug": slug,
        "plan_tier": plan_tier,
        "billing_email": billing_email,
        "settings": {},
        "created_at": now_ms,
        "updated_at": now_ms,
    }
    key_item = api_key_item(org_id=org_id, key=key, key_id=key_id, name="Initial Admin Key", now_ms=now_ms)
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
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": f"SLUG#{slug}"}, "sk": {"S": "SLUG"}, "org_id": {"S": org_id}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": dynamo_codec.encode_item(key_item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
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
