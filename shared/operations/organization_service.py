"""Organizations (contract §2.13): registration, the caller's own organization, usage, members,
slugs and the webhook token. A caller only ever sees its own organization: any other id is 404.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from shared.identity import expressions as identity_ex
from shared.identity import lambda_functions, slugs
from shared.identity.api_keys import ApiKeyService, key_document
from shared.identity.authentication import require_admin
from shared.identity.credentials import AuthContext
from shared.identity.organizations import (
    CreatedOrganization,
    create_organization,
    new_webhook_token,
    organization_document,
    webhook_token_of,
)
from shared.jobs import expressions as ex
from shared.jobs import purge as job_purge
from shared.jobs.queues import counters as queue_counters
from shared.jobs.queues import registry as queue_registry
from shared.jobs.workers.directory import WorkerDirectory
from shared.operations import usage as org_usage
from shared.plumbing import aws_clients, dynamo_codec, schema, table_keys, table_service
from shared.plumbing.clock import Clock, to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.errors import AccessDenied, BadRequest, Conflict, NotFound, ValidationFailed
from shared.plumbing.table_service import TableService
from shared.webhooks.inbound.signatures import provider_secret_status, split_provider_secrets
from shared.webhooks.outgoing import expressions as hooks

if TYPE_CHECKING:  # request models are built only where a route parses a body
    from shared.identity import requests as am

ACTIVE_JOB_STATUSES = ("pending", "scheduled", "processing")
MAX_ID_LENGTH = 255


def _conditional_failed(error: Exception) -> bool:
    return getattr(error, "response", {}).get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def summary_document(org: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": org["id"],
        "name": org["name"],
        "slug": org["slug"],
        "plan_tier": org.get("plan_tier", "enterprise"),
        "created_at": to_rfc3339(org["created_at"]),
    }


def require_slug(slug: str) -> None:
    reason = slugs.problem(slug)
    if reason:
        raise ValidationFailed(reason, details=[{"field": "slug", "message": reason, "code": "invalid_slug"}])


class OrganizationService(TableService):
    def __init__(
        self, table: str | None = None, clock: Clock | None = None, rng: random.Random | None = None
    ):
        super().__init__(table, clock)
        self.rng = rng or random.SystemRandom()

    # --- items ---------------------------------------------------------------------------

    def item(self, org_id: str) -> dict[str, Any] | None:
        if len(org_id) > MAX_ID_LENGTH:
            return None  # never an id of ours (and DynamoDB keys have a size limit)
        found = self._db.get_item(TableName=self.table, Key=table_keys.org_key(org_id), ConsistentRead=True)
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def _own(self, ctx: AuthContext, org_id: str) -> dict[str, Any]:
        """The caller's organization when `org_id` names it; any other id does not exist for it."""
        org = self.item(ctx.org_id) if org_id == ctx.org_id else None
        if org is None:
            raise NotFound()
        return org

    def update_fields(
        self, org_id: str, sets: dict[str, Any], removes: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        try:
            response = self._db.update_item(
                **identity_ex.update_organization(
                    self.table, org_id, sets=sets, removes=removes, now_ms=self.clock.now_ms()
                )
            )
        except Exception as error:
            if _conditional_failed(error):
                raise NotFound() from error
            raise
        return dynamo_codec.decode_item(response["Attributes"])

    def slug_taken(self, slug: str) -> bool:
        found = self._db.get_item(TableName=self.table, Key=identity_ex.slug_key(slug), ConsistentRead=True)
        return "Item" in found

    # --- registration --------------------------------------------------------------------

    def register(
        self,
        req: am.CreateOrganization,
        headers: dict[str, str],
        *,
        plan_tier: str = "enterprise",
        **extra: Any,
    ) -> CreatedOrganization:
        require_slug(req.slug)
        return create_organization(
            req.name,
            req.slug,
            plan_tier=plan_tier,
            billing_email=req.billing_email,
            table=self.table,
            clock=self.clock,
            **extra,
        )

    def register_public(self, req: am.CreateOrganization, headers: dict[str, str]) -> CreatedOrganization:
        """POST /organizations, as REGISTRATION_MODE allows: open, closed (admin key) or invite."""
        mode = settings().registration_mode
        if mode == "invite":
            raise AccessDenied("Registration is by invitation only on this deployment")
        if mode == "closed":
            require_admin(headers)
        elif mode != "open":
            raise AccessDenied("Registration is disabled on this deployment")
        return self.register(req, headers)

    # --- the caller's organization -------------------------------------------------------

    def list(self, ctx: AuthContext) -> list[dict[str, Any]]:
        org = self.item(ctx.org_id)
        return [summary_document(org)] if org else []

    def get(self, ctx: AuthContext, org_id: str) -> dict[str, Any]:
        # The webhook token is a credential: a queue-scoped key does not get to read it.
        return organization_document(self._own(ctx, org_id), redact_webhook_token=not ctx.unrestricted)

    def update(self, ctx: AuthContext, org_id: str, req: am.UpdateOrganization) -> dict[str, Any]:
        org = self._own(ctx, org_id)
        _require_unrestricted(ctx)
        sets: dict[str, Any] = {}
        if req.name is not None:
            sets["name"] = req.name
        if req.settings is not None:
            # Provider secrets are write-only attributes beside settings (docs/webhooks-incoming.md);
            # an object holding nothing else changes only them and leaves the settings as they are.
            rest, provider_secrets = split_provider_secrets(req.settings)
            sets.update(provider_secrets)
            if rest or not provider_secrets:
                # Replaces the object; the webhook token is kept (it lives beside it, not inside).
                sets["settings"] = json.dumps({k: v for k, v in rest.items() if k != "webhook_token"})
        if req.billing_email is not None:
            # Not unique across organizations (issue 12, finding 8): no claim to move, no 409.
            sets["billing_email"] = req.billing_email
        return organization_document(self.update_fields(org["id"], sets) if sets else org)

    def delete(self, ctx: AuthContext, org_id: str) -> None:
        org = self._own(ctx, org_id)
        _require_unrestricted(ctx)
        counts = queue_counters.read_counts(self.table, org["id"])
        if any(c.get(status, 0) for c in counts.values() for status in ACTIVE_JOB_STATUSES):
            raise Conflict("The organization has pending or processing jobs")
        workers = WorkerDirectory(self.table, self.clock).status_counts(org["id"])
        if workers.get("healthy", 0) + workers.get("degraded", 0):
            raise Conflict("The organization has active workers")
        purge_organization(self.table, org, self.clock)

    def usage(self, ctx: AuthContext) -> dict[str, Any]:
        _require_unrestricted(ctx)
        org = self.item(ctx.org_id)
        if org is None:
            raise NotFound()
        return org_usage.document(self.table, org, self.clock)

    def members(self, ctx: AuthContext, org_id: str) -> list[dict[str, Any]]:
        """Synthesized from the active API keys (contract §2.13): a '*' key is an owner."""
        org = self._own(ctx, org_id)
        _require_unrestricted(ctx)
        rows = []
        keys = ApiKeyService(self.table, self.clock).org_key_items(org["id"])
        for key in keys:
            document = key_document(key)
            if not document["is_active"]:
                continue
            rows.append(
                {
                    "id": document["id"],
                    "user_id": document["id"],
                    "email": org.get("billing_email") or "",
                    "name": document["name"],
                    "role": "owner" if "*" in document["queues"] else "member",
                    "joined_at": document["created_at"],
                    "invited_by": None,
                }
            )
        return rows

    # --- slugs (public) ------------------------------------------------------------------

    def check_slug(self, slug: str) -> dict[str, Any]:
        reason = slugs.problem(slug)
        if reason:
            return {"available": False, "valid": False, "error": reason}
        if self.slug_taken(slug):
            return {"available": False, "valid": True, "suggestion": self._free_variant(slug)}
        return {"available": True, "valid": True}

    def generate_slug(self, name: str) -> dict[str, Any]:
        slug = slugs.from_name(name)
        return {"slug": self._free_variant(slug) if self.slug_taken(slug) else slug}

    def _free_variant(self, slug: str) -> str:
        for _ in range(5):
            candidate = slugs.with_suffix(slug, self.rng)
            if not self.slug_taken(candidate):
                return candidate
        return slugs.with_suffix(slug, self.rng)  # 36^6 variants: five misses in a row do not happen

    # --- the webhook token ---------------------------------------------------------------

    def _webhook_document(self, org: dict[str, Any]) -> dict[str, Any]:
        token = webhook_token_of(org)
        return {
            "webhook_token": token,
            "webhook_url": f"{settings().external_url}/api/v1/webhooks/{org['id']}/custom" if token else None,
            **provider_secret_status(org, f"{settings().external_url}/api/v1/webhooks/{org['id']}"),
        }

    def webhook_token(self, ctx: AuthContext) -> dict[str, Any]:
        _require_unrestricted(ctx)
        org = self.item(ctx.org_id)
        if org is None:
            raise NotFound()
        return self._webhook_document(org)

    def regenerate_webhook_token(self, ctx: AuthContext) -> dict[str, Any]:
        _require_unrestricted(ctx)
        return self._webhook_document(self.update_fields(ctx.org_id, {"webhook_token": new_webhook_token()}))

    def clear_webhook_token(self, ctx: AuthContext) -> None:
        _require_unrestricted(ctx)
        # 0.1.111 refuses this always: ingestion must never be left without authentication.
        raise BadRequest("The webhook token cannot be cleared; regenerate it instead")


def _require_unrestricted(ctx: AuthContext) -> None:
    if not ctx.unrestricted:
        raise AccessDenied("A queue-scoped API key cannot manage the organization")


def purge_organization(table: str, org: dict[str, Any], clock: Clock) -> None:
    """Delete an organization and everything it owns. Jobs go first, while its keys still work,
    so a deletion cut short by the time budget can be repeated by the same caller."""
    org_id = org["id"]
    db = aws_clients.client("dynamodb")
    try:
        job_purge.purge(table, org_id)
    except job_purge.PurgeIncomplete as incomplete:
        raise Conflict(f"{incomplete.deleted} jobs deleted so far; more remain: repeat the request") from None
    doomed: list[dict[str, Any]] = []
    for key in table_service.items_in_partition(
        table, schema.BY_ORG_INDEX, identity_ex.keys_by_org_pk(org_id), 100_000
    ):
        if key.get("org_id") == org_id:
            doomed += [
                identity_ex.api_key_key(key["pk"].split("#", 1)[1]),
                identity_ex.api_key_pointer_key(org_id, key["id"]),
            ]
    for worker in table_service.keys_in_partition(
        table, schema.BY_ORG_INDEX, ex.workers_by_org_pk(org_id), 100_000
    ):
        doomed.append(worker)
    # Schedules, workflows and outgoing webhooks: deleting a schedule reaches the stream, which
    # disarms its next fire, so a deleted organization's cron stops. Their runs and delivery logs
    # sit in their own partitions and leave with their TTL.
    for prefix in org_usage.OTHER_RESOURCE_PARTITIONS.values():
        doomed += table_service.keys_in_partition(table, schema.BY_ORG_INDEX, f"{prefix}{org_id}", 100_000)
    # Each queue's own partitions (counters and activity buckets; Lambda-worker slots), found
    # through the registry, which is in ORG#{org} and goes with it below.
    queues = queue_registry.queue_names_of(table, org_id)
    partitions = [ex.queue_partition_pk(org_id, queue) for queue in queues]
    for partition in (*partitions, f"ORG#{org_id}", hooks.subscriptions_pk(org_id)):
        doomed += _keys_in_base_partition(db, table, partition)
    doomed += [ex.lambda_slots_key(org_id, queue) for queue in queues]
    doomed.append(identity_ex.slug_key(org["slug"]))
    if org.get("billing_email"):  # the claim item of deployments from before issue 12
        doomed.append(identity_ex.billing_email_key(org["billing_email"]))
    doomed += [
        lambda_functions.claim_key(name) for name in lambda_functions.allowed_of({**org, "plan_tier": None})
    ]
    job_purge.delete_keys(table, doomed)
    from shared.identity.api_keys import forget_cached_keys

    forget_cached_keys()  # the deleted keys stop working here at once (elsewhere within 5 s)


def _keys_in_base_partition(db: Any, table: str, partition: str) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = []
    args = table_keys.query_partition_keys(table, partition)
    while True:
        response = db.query(**args)
        keys.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return keys
        args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
