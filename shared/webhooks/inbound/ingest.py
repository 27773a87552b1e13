"""Incoming webhooks become jobs (contract §2.9, §3.12; docs/webhooks-incoming.md).

Three senders, one path: verify who sent the request over the exact bytes received, count it
against the organization's rate limit, read what it asks for, and create a pending job through the
job service (so queue defaults, payload limits and idempotency are those of POST /jobs). Each
accepted request then leaves one row in the organization's inbound delivery log.

  custom   X-Webhook-Token = the org's token; the body names queue, payload, idempotency key
  github   X-Hub-Signature-256 with the org's GitHub secret; queue github-<event>, key the SHA-256 of
           the signed body (X-GitHub-Event and X-GitHub-Delivery are not signed: see github())
  stripe   Stripe-Signature with the org's Stripe secret; queue stripe-<type>, key the event id

The organization id comes from the path, and only a credential of that organization lets a
request through; nothing is written for a request that is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field

from shared.identity.credentials import AuthContext
from shared.identity.organizations import webhook_token_of
from shared.identity.rate_limits import RateLimiter
from shared.jobs import requests as job_requests
from shared.jobs.service import JobService, Page
from shared.plumbing import aws_clients, dynamo_codec, table_keys
from shared.plumbing import request_models as m
from shared.plumbing.clock import Clock, SystemClock, from_datetime, to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.errors import AccessDenied, BadRequest, NotFound, PayloadTooLarge, ValidationFailed
from shared.webhooks.inbound import expressions as inbound
from shared.webhooks.inbound.signatures import (
    GITHUB_SECRET,
    STRIPE_SECRET,
    verify_github,
    verify_stripe,
    verify_token,
)

logger = logging.getLogger("spooled.webhook_ingest")

MAX_BODY_BYTES = 5 * 1024 * 1024  # contract §1.2; the job's payload must also fit the job limit
LOG_RETENTION_SECONDS = 30 * 86_400
MAX_PROVIDER_QUEUE_CHARS = 64
MAX_PROVIDER_ID_CHARS = 200  # a GitHub delivery GUID is 36, a Stripe event id ~30
MAX_EVENT_TYPE_CHARS = 100
MAX_ORG_ID_CHARS = 255
MAX_EXAMINED_PER_LIST = 5000  # bounds the work of one filtered GET /webhooks/deliveries
DELIVERY_STATUSES = ("created", "duplicate")
_NOT_QUEUE_CHARS = re.compile(r"[^A-Za-z0-9_-]")

EventType = Annotated[
    str, Field(min_length=1, max_length=MAX_EVENT_TYPE_CHARS, pattern=r"^[A-Za-z0-9_.\-]+$")
]


class CustomWebhook(BaseModel):
    """The body of POST /webhooks/{org_id}/custom (what the SDK's ingest.custom sends)."""

    # As the job bodies (shared/jobs/requests.py): strict, unknown keys ignored, built on first use.
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)

    queue_name: m.QueueName
    event_type: EventType | None = None
    payload: Any = Field(...)
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    priority: m.Priority | None = None


@dataclass(frozen=True)
class Accepted:
    """The answer to an accepted delivery: the job it made (or, for a duplicate, found)."""

    job_id: str
    queue_name: str
    status: str | None
    created: bool
    rate_headers: dict[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "queue_name": self.queue_name,
            "status": self.status,
            "created": self.created,
        }


@dataclass(frozen=True)
class _Delivery:
    """What a verified request asks for."""

    provider: str
    event_type: str
    queue_name: str
    payload: Any
    idempotency_key: str | None
    priority: int
    verification: str  # the verdict kept in the log: how the sender was recognised
    signed_at: int | None = None  # Stripe's signed timestamp (unix seconds)


def provider_queue(provider: str, event: str) -> str:
    """github-push, stripe-invoice-paid: only [A-Za-z0-9_-], at most 64 characters."""
    return _NOT_QUEUE_CHARS.sub("-", f"{provider}-{event}")[:MAX_PROVIDER_QUEUE_CHARS]


def _provider_key(provider: str, delivery_id: str | None) -> str | None:
    """The sender's own id of the delivery as the job's idempotency key, prefixed so that it can
    never collide with a key the organization chose for its own jobs."""
    if not delivery_id:
        return None
    if len(delivery_id) > MAX_PROVIDER_ID_CHARS:
        raise BadRequest(f"The {provider} delivery id is longer than {MAX_PROVIDER_ID_CHARS} characters")
    return f"{provider}:{delivery_id}"


def _require_size(body: bytes) -> None:
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"Webhook body is {len(body)} bytes; the limit is {MAX_BODY_BYTES} bytes",
            error="payload_too_large",
            current=len(body),
            limit=MAX_BODY_BYTES,
            plan="self-hosted",
            upgrade_to=False,
        )


def _require_https(headers: dict[str, str]) -> None:
    # API Gateway only serves HTTPS; behind another proxy in production, plain HTTP would expose
    # the token and the payload, so it is refused (contract §3.12).
    proto = headers.get("x-forwarded-proto")
    if settings().environment == "production" and proto is not None and proto.lower() != "https":
        raise BadRequest("HTTPS is required for webhooks in production")


def _require_safe_queue(queue: str) -> None:
    if ".." in queue:
        raise ValidationFailed(
            details=[
                {"field": "queue_name", "message": "must not contain '..'", "code": "invalid_queue_name"}
            ]
        )


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The webhook body is not JSON") from None


def _github_payload(body: bytes, content_type: str) -> Any:
    # GitHub sends either application/json or a form with the JSON in its `payload` field.
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("The webhook form body cannot be read") from None
        if len(fields.get("payload", [])) != 1:
            raise BadRequest("The webhook form body has no payload field")
        return _json_body(fields["payload"][0].encode("utf-8"))
    return _json_body(body)


def _since_ms(text: str | None) -> int | None:
    if not text:
        return None
    # A '+' of an unencoded offset arrives as a space in a query string.
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        raise ValidationFailed(
            details=[
                {"field": "since", "message": "must be an RFC 3339 timestamp", "code": "invalid_datetime"}
            ]
        ) from None
    return from_datetime(value if value.tzinfo else value.replace(tzinfo=UTC))


def delivery_document(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "provider": row["provider"],
        "event_type": row["event_type"],
        "matched_queue": row.get("matched_queue"),
        "job_id": row.get("job_id"),
        "status": row.get("status"),
        "verification": row.get("verification"),
        "created_at": to_rfc3339(row["created_at"]),
    }


class WebhookIngest:
    def __init__(
        self, jobs: JobService | None = None, limiter: RateLimiter | None = None, clock: Clock | None = None
    ) -> None:
        self.jobs = jobs or JobService()
        self.table = self.jobs.store.table
        self.clock = clock or SystemClock()
        self.limiter = limiter or RateLimiter(self.table, self.clock)

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    # --- the three senders ---------------------------------------------------------------

    def custom(self, org_id: str, headers: dict[str, str], body: bytes) -> Accepted:
        org = self._admit(org_id, headers, body)
        verify_token(webhook_token_of(org), headers.get("x-webhook-token"))
        rate_headers = self._count(org_id)
        req = m.parse_body(CustomWebhook, body)
        _require_safe_queue(req.queue_name)
        delivery = _Delivery(
            provider="custom",
            event_type=req.event_type or "custom",
            queue_name=req.queue_name,
            payload=req.payload,
            idempotency_key=req.idempotency_key,
            priority=req.priority or 0,
            verification="token",
        )
        return self._enqueue(org_id, delivery, rate_headers)

    def github(self, org_id: str, headers: dict[str, str], body: bytes) -> Accepted:
        org = self._admit(org_id, headers, body)
        verify_github(org.get(GITHUB_SECRET), body, headers.get("x-hub-signature-256"))
        rate_headers = self._count(org_id)
        event = headers.get("x-github-event", "").strip()
        if not event:
            raise BadRequest("Missing X-GitHub-Event")
        # Only the body is signed. Keyed on the delivery id alone, a captured body could be
        # replayed forever with fresh ids; keyed on the body's hash, one signed body makes one job,
        # whatever the unsigned headers say (a GitHub redelivery resends the same body, so it is a
        # duplicate as before). The delivery id, still checked for length, only goes to the log.
        # The queue comes from X-GitHub-Event, which is unsigned too: it is a routing hint, and a
        # replayed body cannot use it to make a second job in another queue (issue 12, finding 7).
        _provider_key("github", headers.get("x-github-delivery", "").strip())
        delivery = _Delivery(
            provider="github",
            event_type=event[:MAX_EVENT_TYPE_CHARS],
            queue_name=provider_queue("github", event),
            payload=_github_payload(body, headers.get("content-type", "")),
            idempotency_key=f"github:sha256:{hashlib.sha256(body).hexdigest()}",
            priority=0,
            verification="github-hmac-sha256",
        )
        return self._enqueue(org_id, delivery, rate_headers)

    def stripe(self, org_id: str, headers: dict[str, str], body: bytes) -> Accepted:
        org = self._admit(org_id, headers, body)
        signed_at = verify_stripe(
            org.get(STRIPE_SECRET), body, headers.get("stripe-signature"), self.clock.now_ms() // 1000
        )
        rate_headers = self._count(org_id)
        event = _json_body(body)
        data = event.get("data") if isinstance(event, dict) else None
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("id"), str)
            or not event["id"]
            or not isinstance(event.get("type"), str)
            or not event["type"]
            or not isinstance(data, dict)
            or "object" not in data
        ):
            raise BadRequest("Not a Stripe event: expected id, type and data.object")
        delivery = _Delivery(
            provider="stripe",
            event_type=event["type"][:MAX_EVENT_TYPE_CHARS],
            queue_name=provider_queue("stripe", event["type"].replace(".", "-")),
            payload=data["object"],
            idempotency_key=_provider_key("stripe", event["id"]),
            priority=0,
            verification="stripe-v1",
            signed_at=signed_at,
        )
        return self._enqueue(org_id, delivery, rate_headers)

    # --- the delivery log ----------------------------------------------------------------

    def deliveries(
        self,
        ctx: AuthContext,
        *,
        status: str | None,
        since: str | None,
        queue_name: str | None,
        limit: int,
        offset: int,
    ) -> Page:
        """GET /webhooks/deliveries: newest first, no payloads; unrestricted keys only."""
        if not ctx.unrestricted:
            raise AccessDenied("A queue-scoped API key cannot read the inbound webhook log")
        if status is not None and status not in DELIVERY_STATUSES:
            raise ValidationFailed(
                details=[
                    {"field": "status", "message": "must be created or duplicate", "code": "invalid_status"}
                ]
            )
        wanted = offset + limit + 1
        rows: list[dict[str, Any]] = []
        examined = 0
        args = inbound.query_deliveries(
            self.table, ctx.org_id, since_ms=_since_ms(since), status=status, queue_name=queue_name
        )
        while len(rows) < wanted and examined < MAX_EXAMINED_PER_LIST:
            response = self._db.query(**args)
            examined += response.get("ScannedCount", 0)
            rows.extend(dynamo_codec.decode_item(raw) for raw in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        page = rows[offset : offset + limit]
        return Page([delivery_document(row) for row in page], len(rows) > offset + limit)

    # --- steps ---------------------------------------------------------------------------

    def _admit(self, org_id: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """The checks before the credential: transport, size (before hashing a huge body) and the
        organization named in the path."""
        _require_https(headers)
        _require_size(body)
        org = self._org(org_id)
        if org is None:
            raise NotFound()
        return org

    def _org(self, org_id: str) -> dict[str, Any] | None:
        if not org_id or len(org_id) > MAX_ORG_ID_CHARS:
            return None  # never an id of ours (and DynamoDB refuses oversized keys)
        # Consistent: a token regenerated or a secret set a moment ago must already count.
        found = self._db.get_item(TableName=self.table, Key=table_keys.org_key(org_id), ConsistentRead=True)
        if "Item" not in found:
            return None
        org = dynamo_codec.decode_item(found["Item"])
        return None if org.get("plan_tier") == "deleted" else org

    def _count(self, org_id: str) -> dict[str, str]:
        """The organization's request limit, counted only once the sender is known, so that nobody
        can use up an organization's window with requests it never signed."""
        verdict = self.limiter.admit(AuthContext(org_id=org_id, api_key_id="webhook-ingest"))
        verdict.raise_if_refused()
        return verdict.headers()

    def _enqueue(self, org_id: str, delivery: _Delivery, rate_headers: dict[str, str]) -> Accepted:
        ctx = AuthContext(org_id=org_id, api_key_id=f"webhook:{delivery.provider}")
        request = job_requests.CreateJob(
            queue_name=delivery.queue_name,
            payload=delivery.payload,
            priority=delivery.priority,
            idempotency_key=delivery.idempotency_key,
        )
        document, created = self.jobs.create(ctx, request)
        job_id = document["id"]
        queue, status = delivery.queue_name, "pending"
        if not created:
            # The job the key already names, as it is now (it may have run, in another queue).
            existing = self.jobs.store.get_many(org_id, [job_id])
            queue, status = (existing[0].queue_name, str(existing[0].status)) if existing else (queue, None)
        self._log(org_id, delivery, job_id, queue, created)
        return Accepted(job_id, queue, status, created, rate_headers)

    def _log(self, org_id: str, delivery: _Delivery, job_id: str, queue: str, created: bool) -> None:
        """One row per accepted request. Written after the job, not in its transaction: the job and
        its idempotency item are what a sender's retry depends on, and the job store writes them
        in its own transaction. If this write fails, the job is still whole and a retried delivery
        finds it by its key; the log misses one line, and says so loudly here."""
        now_ms = self.clock.now_ms()
        delivery_id = str(uuid.uuid4())
        row = {
            "id": delivery_id,
            "org_id": org_id,
            "provider": delivery.provider,
            "event_type": delivery.event_type,
            "matched_queue": queue,
            "job_id": job_id,
            "status": "created" if created else "duplicate",
            "idempotency_key": delivery.idempotency_key,
            "verification": delivery.verification,
            "signed_at": delivery.signed_at,
            "created_at": now_ms,
            "expires_ttl": now_ms // 1000 + LOG_RETENTION_SECONDS,
        }
        try:
            self._db.put_item(**inbound.put_delivery(self.table, org_id, now_ms, delivery_id, row))
        except Exception:
            logger.exception("inbound delivery log write failed (job %s was %s)", job_id, row["status"])
