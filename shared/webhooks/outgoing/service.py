"""Outgoing webhooks (contract §2.10): create, list, get, update, delete, test, the delivery log and
retrying a delivery.

Only unrestricted API keys manage webhooks (§3.13: a queue-scoped key gets 403). A webhook, its
subscription row (what the stream fan-out reads) and the organization's count of enabled webhooks
change together in one transaction, so the fan-out never sees a webhook that does not exist and
the `max_webhooks` cap holds under concurrent requests; re-enabling a webhook is charged against
the cap like creating one. The secret is stored (deliveries are signed with it) and never returned.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from shared.identity import plan_limits
from shared.identity.credentials import AuthContext
from shared.plumbing import dynamo_codec, table_keys, table_service, url_safety
from shared.plumbing.aws_clients import error_code
from shared.plumbing.clock import Clock, to_rfc3339
from shared.plumbing.errors import AccessDenied, Conflict, NotFound, QuotaExceeded
from shared.plumbing.table_service import TableService
from shared.webhooks.outgoing import expressions as ex
from shared.webhooks.outgoing import fanout as webhook_fanout
from shared.webhooks.outgoing import payloads as webhook_payloads
from shared.webhooks.outgoing import policy as webhook_policy
from shared.webhooks.outgoing.delivery import WebhookDeliverer

if TYPE_CHECKING:  # request models are built only where a route parses a body
    from shared.webhooks.outgoing import requests as wm

LISTED_DELIVERIES = 100  # only the newest 100 deliveries of a webhook are readable (§2.10)
DELIVERY_STATUSES = ("pending", "success", "failed")
MAX_WEBHOOKS_LISTED = 1000
_WRITE_ATTEMPTS = 3  # a write that lost a race with an auto-disable reads the webhook again


def webhook_document(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "organization_id": item["org_id"],
        "name": item["name"],
        "url": item["url"],
        "events": list(item.get("events") or []),
        "format": item.get("format") or "json",
        "enabled": bool(item.get("enabled", True)),
        "failure_count": int(item.get("failure_count", 0)),
        "last_triggered_at": to_rfc3339(item.get("last_triggered_at")),
        "last_status": item.get("last_status"),
        "created_at": to_rfc3339(item["created_at"]),
        "updated_at": to_rfc3339(item.get("updated_at", item["created_at"])),
    }


def delivery_document(row: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = json.loads(row.get("payload") or "null")
    except ValueError:
        payload = row.get("payload")
    return {
        "id": row["id"],
        "webhook_id": row["webhook_id"],
        "event": row["event"],
        "payload": payload,
        "status": row.get("status", "pending"),
        "status_code": row.get("status_code"),
        "response_body": row.get("response_body"),
        "error": row.get("error"),
        "attempts": int(row.get("attempts", 0)),
        "created_at": to_rfc3339(row["created_at"]),
        "delivered_at": to_rfc3339(row.get("delivered_at")),
    }


def _require_unrestricted(ctx: AuthContext) -> None:
    if not ctx.unrestricted:
        raise AccessDenied("A queue-scoped API key cannot manage outgoing webhooks")


def _cancellation_codes(error: Exception) -> list[str]:
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [reason.get("Code", "None") for reason in reasons]


class OutgoingWebhookService(TableService):
    def __init__(
        self, table: str | None = None, clock: Clock | None = None, deliverer: WebhookDeliverer | None = None
    ) -> None:
        super().__init__(table, clock)
        self.deliverer = deliverer or WebhookDeliverer(self.table, clock=self.clock)

    # --- reads ---------------------------------------------------------------------------

    def _load(self, ctx: AuthContext, webhook_id: str) -> dict[str, Any]:
        _require_unrestricted(ctx)
        if len(webhook_id) > 255:
            raise NotFound()
        hook = self.deliverer.load_webhook(ctx.org_id, webhook_id)
        if hook is None:
            raise NotFound()
        return hook

    def get(self, ctx: AuthContext, webhook_id: str) -> dict[str, Any]:
        return webhook_document(self._load(ctx, webhook_id))

    def list(self, ctx: AuthContext) -> list[dict[str, Any]]:
        """Newest first. The subscription partition is read consistently, so a webhook just
        created is listed at once (the by_org index may lag)."""
        _require_unrestricted(ctx)
        args = ex.query_subscriptions(self.table, ctx.org_id, consistent=True)
        ids: list[str] = []
        while len(ids) < MAX_WEBHOOKS_LISTED:
            page = self._db.query(**args)
            ids.extend(raw["webhook_id"]["S"] for raw in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        hooks = table_service.get_items(
            self.table, [ex.webhook_key(ctx.org_id, webhook_id) for webhook_id in ids]
        )
        hooks.sort(key=lambda item: (item["created_at"], item["id"]), reverse=True)
        return [webhook_document(item) for item in hooks]

    def deliveries(
        self, ctx: AuthContext, webhook_id: str, *, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        self._load(ctx, webhook_id)
        response = self._db.query(
            **ex.query_newest_deliveries(self.table, ctx.org_id, webhook_id, LISTED_DELIVERIES)
        )
        rows = [dynamo_codec.decode_item(raw) for raw in response.get("Items", [])]
        if status in DELIVERY_STATUSES:  # an unknown status filter is ignored, as for jobs
            rows = [row for row in rows if row.get("status", "pending") == status]
        return [delivery_document(row) for row in rows[offset : offset + limit]]

    # --- writes --------------------------------------------------------------------------

    def _checked_url(self, url: str) -> str:
        try:
            self.deliverer.check(url)
        except url_safety.UnsafeUrl as refused:
            raise url_safety.invalid_url(refused) from None
        return url.strip()

    def _webhook_cap(self, org_id: str) -> int | None:
        found = self._db.get_item(TableName=self.table, Key=table_keys.org_key(org_id), ConsistentRead=True)
        if "Item" not in found:
            raise NotFound()
        return plan_limits.for_organization(dynamo_codec.decode_item(found["Item"])).max_webhooks

    def _quota_exceeded(self, org_id: str, limit: int | None) -> Exception:
        found = self._db.get_item(TableName=self.table, Key=table_keys.org_key(org_id), ConsistentRead=True)
        org = dynamo_codec.decode_item(found.get("Item") or {})
        if not org or org.get("plan_tier") == "deleted":
            return NotFound()
        return QuotaExceeded(
            f"Webhook limit reached ({limit})",
            error="limit_exceeded",
            resource="webhooks",
            current=int(org.get("webhook_count", 0)),
            limit=limit,
            plan=org.get("plan_tier", "enterprise"),
        )

    def create(self, ctx: AuthContext, req: wm.CreateWebhook) -> dict[str, Any]:
        _require_unrestricted(ctx)
        url = self._checked_url(req.url)
        now_ms = self.clock.now_ms()
        webhook_id = str(uuid.uuid4())
        item = {
            **{k: v["S"] for k, v in ex.webhook_key(ctx.org_id, webhook_id).items()},
            "id": webhook_id,
            "org_id": ctx.org_id,
            "name": req.name,
            "url": url,
            "events": list(req.events),
            "format": req.format,
            "enabled": req.enabled,
            "secret": req.secret or None,
            "failure_count": 0,
            "created_at": now_ms,
            "updated_at": now_ms,
            "org_pk": ex.webhooks_by_org_pk(ctx.org_id),
            "created_sk": table_keys.created_sk(now_ms, webhook_id),
        }
        writes: list[dict[str, Any]] = [
            {"Put": ex.put_webhook(self.table, item)},
            {
                "Put": ex.put_subscription(
                    self.table,
                    ctx.org_id,
                    webhook_id,
                    events=item["events"],
                    enabled=req.enabled,
                    created_ms=now_ms,
                )
            },
        ]
        limit = None
        if req.enabled:
            limit = self._webhook_cap(ctx.org_id)
            writes.append({"Update": ex.count_enabled_webhooks(self.table, ctx.org_id, 1, limit, now_ms)})
        try:
            self._db.transact_write_items(TransactItems=writes)
        except Exception as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                raise self._quota_exceeded(ctx.org_id, limit) from None
            raise
        webhook_fanout.invalidate(ctx.org_id)
        return webhook_document(item)

    def update(self, ctx: AuthContext, webhook_id: str, req: wm.UpdateWebhook) -> dict[str, Any]:
        _require_unrestricted(ctx)
        fields = req.model_fields_set
        url = self._checked_url(req.url) if req.url is not None else None
        for _ in range(_WRITE_ATTEMPTS):
            hook = self._load(ctx, webhook_id)
            if self._try_update(ctx.org_id, hook, req, fields, url):
                webhook_fanout.invalidate(ctx.org_id)
                return webhook_document(self._load(ctx, webhook_id))
        raise Conflict("The webhook changed while it was being updated; try again")

    def _try_update(
        self,
        org_id: str,
        hook: dict[str, Any],
        req: wm.UpdateWebhook,
        fields: set[str],
        url: str | None,
    ) -> bool:
        now_ms = self.clock.now_ms()
        was_enabled = bool(hook.get("enabled", True))
        enabled = was_enabled if req.enabled is None else req.enabled
        sets: dict[str, Any] = {"enabled": enabled}
        removes: tuple[str, ...] = ()
        for name in ("name", "events", "format"):
            value = getattr(req, name)
            if value is not None:
                sets[name] = list(value) if name == "events" else value
        if url is not None:
            sets["url"] = url
        if "secret" in fields:
            if req.secret:
                sets["secret"] = req.secret
            else:
                removes = ("secret",)  # null (or empty) clears it: deliveries go out unsigned
        if enabled and not was_enabled:
            # A fresh start: otherwise the first failure after re-enabling disables it again.
            sets["failure_count"] = 0
        events = sets.get("events", hook.get("events") or [])
        writes: list[dict[str, Any]] = [
            {
                "Update": ex.update_webhook(
                    self.table,
                    org_id,
                    hook["id"],
                    sets=sets,
                    removes=removes,
                    seen_enabled=was_enabled,
                    now_ms=now_ms,
                )
            },
            {
                "Update": ex.update_subscription(
                    self.table, org_id, hook["id"], events=events, enabled=enabled
                )
            },
        ]
        limit = None
        if enabled != was_enabled:
            delta = 1 if enabled else -1
            if enabled:
                limit = self._webhook_cap(org_id)
            writes.append({"Update": ex.count_enabled_webhooks(self.table, org_id, delta, limit, now_ms)})
        try:
            self._db.transact_write_items(TransactItems=writes)
        except Exception as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            codes = _cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False  # deleted, toggled or auto-disabled meanwhile: read it again
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                raise self._quota_exceeded(org_id, limit) from None
            raise
        return True

    def delete(self, ctx: AuthContext, webhook_id: str) -> None:
        for _ in range(_WRITE_ATTEMPTS):
            hook = self._load(ctx, webhook_id)
            enabled = bool(hook.get("enabled", True))
            writes: list[dict[str, Any]] = [
                {"Delete": ex.delete_webhook(self.table, ctx.org_id, webhook_id, seen_enabled=enabled)},
                {"Delete": ex.delete_subscription(self.table, ctx.org_id, webhook_id)},
            ]
            if enabled:
                now_ms = self.clock.now_ms()
                writes.append({"Update": ex.count_enabled_webhooks(self.table, ctx.org_id, -1, None, now_ms)})
            try:
                self._db.transact_write_items(TransactItems=writes)
            except Exception as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                continue  # deleted or toggled meanwhile: read it again (a second delete is a 404)
            webhook_fanout.invalidate(ctx.org_id)
            return
        raise Conflict("The webhook changed while it was being deleted; try again")

    # --- sending now ---------------------------------------------------------------------

    def test(self, ctx: AuthContext, webhook_id: str) -> dict[str, Any]:
        """Send `webhook.test` now; 200 whatever the receiver answers (§2.10)."""
        hook = self._load(ctx, webhook_id)
        document = webhook_payloads.probe_document(hook["id"], ctx.org_id, self.clock.now_ms())
        try:
            outcome = self.deliverer.send(
                hook["url"],
                fmt=hook.get("format") or "json",
                secret=hook.get("secret"),
                event=webhook_payloads.TEST_EVENT,
                document=document,
                attempt=1,
            )
        except url_safety.UnsafeUrl as refused:
            raise url_safety.invalid_url(refused) from None
        success = webhook_policy.is_success(outcome.status_code)
        result: dict[str, Any] = {
            "success": success,
            "status_code": outcome.status_code,
            "response_time_ms": outcome.elapsed_ms,
        }
        if not success:
            result["error"] = (
                f"HTTP {outcome.status_code}" if outcome.status_code is not None else "Request failed"
            )
        return result

    def retry(self, ctx: AuthContext, webhook_id: str, delivery_id: str) -> dict[str, Any]:
        hook = self._load(ctx, webhook_id)
        created_ms = webhook_payloads.delivery_created_ms(delivery_id)
        if created_ms is None:
            raise NotFound()
        found = self._db.get_item(
            TableName=self.table,
            Key=ex.delivery_key(ctx.org_id, webhook_id, delivery_id, created_ms),
            ConsistentRead=True,
        )
        if "Item" not in found:
            raise NotFound()
        return self.deliverer.retry_now(hook, dynamo_codec.decode_item(found["Item"]))
