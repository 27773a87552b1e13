"""Delivering outgoing webhooks (contract §3.11) and job completion webhooks (§3.6).

A delivery message names one delivery and the attempt it is for. Handling it: claim the attempt on
the delivery row (a duplicate message finds it taken and stops), check the URL against the SSRF
policy with a fresh DNS answer, POST the signed body to a checked address, then
- success (any 2xx): the row says success, the webhook's failure_count goes back to 0;
- failure with attempts left: the next attempt is queued with DelaySeconds = 2^(n-1) (1, 2, 4, 8 s),
  then the row records this one (queued first: a crash in between repeats an attempt rather than
  losing the delivery);
- last attempt failed: the row says failed, failure_count + 1, and at 20 consecutive failed
  deliveries the webhook is disabled (last_status auto_disabled).
Every attempt sets the webhook's last_triggered_at and last_status. A completion webhook is tried
once and only its row records it. The API's /test and /retry call `send` and `retry_now` here.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from shared.identity.organizations import organization_active
from shared.plumbing import dynamo_codec, url_safety
from shared.plumbing.aws_clients import error_code, is_conditional_failure
from shared.plumbing.clock import Clock
from shared.plumbing.config import settings
from shared.plumbing.table_service import TableService
from shared.plumbing.timer_queue import MessageSender, OutgoingMessage, SqsSender
from shared.webhooks.outgoing import expressions as ex
from shared.webhooks.outgoing import payloads as webhook_payloads
from shared.webhooks.outgoing import policy as webhook_policy
from shared.webhooks.outgoing.messages import DeliveryMessage
from shared.webhooks.outgoing.policy import HttpOutcome
from shared.webhooks.outgoing.signing import request_headers

logger = logging.getLogger("spooled.webhooks")

Poster = Callable[[url_safety.Target, bytes, dict[str, str]], HttpOutcome]

RETENTION_DAYS = 30  # delivery rows expire (TTL) after this; listings show the newest 100 anyway
CLAIM_SECONDS = 60  # an attempt not recorded within this was abandoned; below the queue's 90 s visibility
MAX_STORED_PAYLOAD = 300 * 1024


class AttemptNotReady(RuntimeError):
    """The previous attempt is still being recorded: SQS brings this message back later."""


def stored_payload(body: str) -> str:
    """The envelope as the delivery row keeps it: whole, unless it would crowd the 400 KB item."""
    if len(body.encode("utf-8")) <= MAX_STORED_PAYLOAD:
        return body
    document = json.loads(body)
    document["data"] = {"truncated": True}
    return json.dumps(document, separators=(",", ":"))


class WebhookDeliverer(TableService):
    def __init__(
        self,
        table: str | None = None,
        sender: MessageSender | None = None,
        clock: Clock | None = None,
        poster: Poster | None = None,
        resolver: url_safety.Resolver | None = None,
        production: bool | None = None,
    ) -> None:
        super().__init__(table, clock)
        self.sender = sender or SqsSender(settings().webhook_queue_url)
        self.resolver = resolver or url_safety.system_resolver
        self.production = settings().environment == "production" if production is None else production
        if poster is None:
            from shared.webhooks.outgoing.http import post

            poster = post
        self.poster = poster

    # --- sending -------------------------------------------------------------------------

    def check(self, url: str) -> url_safety.Target:
        return url_safety.check_url(url, production=self.production, resolve=self.resolver)

    def send(
        self, url: str, *, fmt: str, secret: str | None, event: str, document: dict[str, Any], attempt: int
    ) -> HttpOutcome:
        """One signed POST. Raises url_safety.UnsafeUrl when the URL (or its DNS answer) is not allowed."""
        target = self.check(url)
        body = webhook_payloads.render(fmt, document)
        headers = request_headers(
            event=event,
            timestamp=self.clock.now_ms() // 1000,
            attempt=attempt,
            body=body,
            secret=secret,
        )
        return self.poster(target, body, headers)

    def _send_or_refuse(
        self, url: str, *, fmt: str, secret: str | None, event: str, document: dict[str, Any], attempt: int
    ) -> HttpOutcome:
        try:
            return self.send(url, fmt=fmt, secret=secret, event=event, document=document, attempt=attempt)
        except url_safety.UnsafeUrl as refused:
            return HttpOutcome(None, None, f"Invalid webhook URL: {refused}", 0)

    # --- the queue's messages ------------------------------------------------------------

    def handle(self, message: DeliveryMessage) -> str:
        """One message; returns what happened (for logs and tests). Raises only on AWS errors (and
        AttemptNotReady), which SQS answers by delivering the message again later."""
        if not organization_active(self.table, message.org_id):
            return "dropped"  # soft-deleted since the event: its queued attempts end with it
        if message.job_id is not None:
            return self._completion_attempt(message)
        return self._webhook_attempt(message)

    def _webhook_attempt(self, message: DeliveryMessage) -> str:
        assert message.webhook_id is not None
        hook = self.load_webhook(message.org_id, message.webhook_id)
        if hook is None:
            return "dropped"  # the webhook was deleted; its queued attempts end with it
        key = ex.delivery_key(message.org_id, message.webhook_id, message.delivery_id, message.created_ms)
        claim = self._claim(key, message, {"webhook_id": message.webhook_id})
        if claim is None:
            return "duplicate"
        if not hook.get("enabled", True):
            self._record(key, claim, "failed", HttpOutcome(None, None, "Webhook is disabled", 0))
            return "disabled"
        outcome = self._send_or_refuse(
            hook["url"],
            fmt=hook.get("format") or "json",
            secret=hook.get("secret"),
            event=message.event,
            document=json.loads(message.body),
            attempt=message.attempt,
        )
        success = webhook_policy.is_success(outcome.status_code)
        over = success or not webhook_policy.should_retry(message.attempt)
        if not over:
            delay = webhook_policy.retry_delay_seconds(message.attempt)
            self.sender.send([OutgoingMessage(message.next_attempt().to_json(), delay)])
        self._record(key, claim, "success" if success else ("failed" if over else "pending"), outcome)
        self._note_on_webhook(message.org_id, message.webhook_id, success=success, delivery_over=over)
        if success:
            return "delivered"
        return "failed" if over else "retrying"

    def _completion_attempt(self, message: DeliveryMessage) -> str:
        assert message.job_id is not None
        found = self._db.get_item(**ex.job_completion_target(self.table, message.org_id, message.job_id))
        job = dynamo_codec.decode_item(found.get("Item") or {})
        if not job.get("completion_webhook"):
            return "dropped"  # the job is gone (purged) or never had one
        key = ex.completion_delivery_key(
            message.org_id, message.job_id, message.delivery_id, message.created_ms
        )
        claim = self._claim(key, message, {"job_id": message.job_id})
        if claim is None:
            return "duplicate"
        outcome = self._send_or_refuse(
            job["completion_webhook"],
            fmt="json",
            secret=job.get("completion_webhook_secret"),
            event=message.event,
            document=json.loads(message.body),
            attempt=message.attempt,
        )
        success = webhook_policy.is_success(outcome.status_code)
        self._record(key, claim, "success" if success else "failed", outcome)  # single attempt (§3.6)
        return "delivered" if success else "failed"

    def _claim(self, key: dict[str, Any], message: DeliveryMessage, owner: dict[str, Any]) -> str | None:
        now_ms = self.clock.now_ms()
        claim = str(uuid.uuid4())
        first_write = {
            "id": message.delivery_id,
            "org_id": message.org_id,
            "event": message.event,
            "payload": stored_payload(message.body),
            "created_at": message.created_ms,
            "expires_ttl": message.created_ms // 1000 + RETENTION_DAYS * 86_400,
            **owner,
        }
        try:
            self._db.update_item(
                **ex.claim_attempt(
                    self.table,
                    key,
                    attempt=message.attempt,
                    claim=claim,
                    claim_until_ms=now_ms + CLAIM_SECONDS * 1000,
                    first_write=first_write,
                    now_ms=now_ms,
                )
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            old = dynamo_codec.decode_item(getattr(error, "response", {}).get("Item") or {})
            if (
                old.get("attempts") == message.attempt - 1
                and old.get("claim")
                and int(old.get("claim_until", 0)) >= now_ms
            ):
                raise AttemptNotReady(
                    f"attempt {message.attempt - 1} of {message.delivery_id} in flight"
                ) from None
            return None
        return claim

    def _record(self, key: dict[str, Any], claim: str, status: str, outcome: HttpOutcome) -> None:
        try:
            self._db.update_item(
                **ex.record_attempt(
                    self.table,
                    key,
                    claim=claim,
                    status=status,
                    status_code=outcome.status_code,
                    response_body=webhook_policy.truncate_response(outcome.response_body),
                    error=webhook_policy.attempt_error(outcome.status_code, outcome.error),
                    now_ms=self.clock.now_ms(),
                )
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            # Our claim was taken over as abandoned: that attempt's outcome stands.
            logger.warning("outcome of an abandoned attempt not recorded (%s)", key["sk"]["S"])

    def _note_on_webhook(
        self, org_id: str, webhook_id: str, *, success: bool, delivery_over: bool, manual: bool = False
    ) -> None:
        now_ms = self.clock.now_ms()
        try:
            response = self._db.update_item(
                **ex.record_webhook_attempt(
                    self.table,
                    org_id,
                    webhook_id,
                    success=success,
                    delivery_over=delivery_over,
                    only_if_enabled=not manual,
                    now_ms=now_ms,
                )
            )
        except Exception as error:
            if is_conditional_failure(error):
                return  # deleted or disabled meanwhile
            raise
        hook = dynamo_codec.decode_item(response.get("Attributes") or {})
        if (
            not success
            and delivery_over
            and hook.get("enabled", True)
            and webhook_policy.should_auto_disable(int(hook.get("failure_count", 0)))
        ):
            self.auto_disable(org_id, webhook_id, hook.get("events") or [], now_ms)

    def auto_disable(self, org_id: str, webhook_id: str, events: list[str], now_ms: int) -> bool:
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": ex.auto_disable(
                            self.table,
                            org_id,
                            webhook_id,
                            threshold=webhook_policy.AUTO_DISABLE_AFTER,
                            now_ms=now_ms,
                        )
                    },
                    {
                        "Update": ex.update_subscription(
                            self.table, org_id, webhook_id, events=events, enabled=False
                        )
                    },
                    {"Update": ex.count_enabled_webhooks(self.table, org_id, -1, None, now_ms)},
                ]
            )
        except Exception as error:
            if error_code(error) == "TransactionCanceledException":
                return False  # re-enabled, reset by a success, disabled or deleted meanwhile
            raise
        from shared.webhooks.outgoing import fanout as webhook_fanout

        webhook_fanout.invalidate(org_id)
        logger.warning(
            "webhook %s disabled after %d failed deliveries", webhook_id, webhook_policy.AUTO_DISABLE_AFTER
        )
        return True

    # --- what the API asks for -----------------------------------------------------------

    def load_webhook(self, org_id: str, webhook_id: str) -> dict[str, Any] | None:
        found = self._db.get_item(
            TableName=self.table, Key=ex.webhook_key(org_id, webhook_id), ConsistentRead=True
        )
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def retry_now(self, hook: dict[str, Any], delivery: dict[str, Any]) -> dict[str, Any]:
        """POST /outgoing-webhooks/{id}/retry/{delivery_id}: one more attempt, now, whatever the
        delivery's status. Its result is final (a queued automatic attempt stands down)."""
        now_ms = self.clock.now_ms()
        claim = str(uuid.uuid4())
        key = {"pk": {"S": delivery["pk"]}, "sk": {"S": delivery["sk"]}}
        try:
            response = self._db.update_item(
                **ex.claim_manual_retry(
                    self.table, key, claim=claim, claim_until_ms=now_ms + CLAIM_SECONDS * 1000, now_ms=now_ms
                )
            )
        except Exception as error:
            if is_conditional_failure(error):
                return {
                    "success": False,
                    "message": "An attempt of this delivery is in progress; try again shortly",
                }
            raise
        attempt = int(response["Attributes"]["attempts"]["N"])
        outcome = self._send_or_refuse(
            hook["url"],
            fmt=hook.get("format") or "json",
            secret=hook.get("secret"),
            event=delivery["event"],
            document=json.loads(delivery["payload"]),
            attempt=attempt,
        )
        success = webhook_policy.is_success(outcome.status_code)
        self._record(key, claim, "success" if success else "failed", outcome)
        # A success resets failure_count; a failure does not count the delivery a second time.
        self._note_on_webhook(hook["org_id"], hook["id"], success=success, delivery_over=success, manual=True)
        if success:
            return {"success": True, "message": f"Delivery succeeded (HTTP {outcome.status_code})"}
        error_text = webhook_policy.attempt_error(outcome.status_code, outcome.error)
        return {"success": False, "message": f"Delivery failed: {error_text}"}
