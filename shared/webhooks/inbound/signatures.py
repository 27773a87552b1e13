"""Who sent an incoming webhook (contract §3.12): the org's token, a GitHub or a Stripe signature.

Pure functions over the exact bytes received: nothing here parses the body, so a body re-encoded on
its way in (whitespace, key order, unicode escapes) fails verification instead of passing a
signature that was made over something else. Every comparison is constant-time. A failure raises
Unauthorized (401); the message says what was wrong with the request, never what was expected.

Also here: the names of the per-organization provider secrets and how an organization's settings
update carries them (they are write-only and stored beside the settings object, not in it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from shared.plumbing.errors import Unauthorized, ValidationFailed

STRIPE_TOLERANCE_SECONDS = 300  # Stripe's own libraries default to this age
STRIPE_FUTURE_SECONDS = 60  # a sender clock slightly ahead is normal; far ahead is a replay trick
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")


def _same(given: str, expected: str) -> bool:
    # Bytes, so non-ASCII input cannot raise; compare_digest takes time independent of the content.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


# --- the organization's webhook token (custom ingestion) ----------------------------------


def verify_token(expected: str | None, given: str | None) -> None:
    """X-Webhook-Token against the org's token. An org without a token accepts nothing: an
    ingestion URL must never be open to anyone who learns the organization id."""
    if not expected:
        raise Unauthorized("Webhook token is not configured for this organization")
    if not given or not _same(given.strip(), expected):
        raise Unauthorized("Invalid or missing X-Webhook-Token")


# --- GitHub: X-Hub-Signature-256 ---------------------------------------------------------


def github_signature(secret: str, body: bytes) -> str:
    """The header value GitHub sends for `body` (useful to tests and to senders of test deliveries)."""
    return "sha256=" + hmac_sha256_hex(secret, body)


def verify_github(secret: str | None, body: bytes, header: str | None) -> None:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`."""
    if not secret:
        raise Unauthorized("No GitHub webhook secret is configured for this organization")
    if not header:
        raise Unauthorized("Missing X-Hub-Signature-256")
    scheme, _, digest = header.strip().partition("=")
    digest = digest.lower()
    if scheme.lower() != "sha256" or not _HEX_DIGEST.fullmatch(digest):
        raise Unauthorized("Malformed X-Hub-Signature-256: expected sha256=<64 hex digits>")
    if not _same(digest, hmac_sha256_hex(secret, body)):
        raise Unauthorized("GitHub signature does not match the body")


# --- Stripe: Stripe-Signature --------------------------------------------------------------


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value Stripe sends for `body` signed at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={hmac_sha256_hex(secret, f'{timestamp}.'.encode() + body)}"


def _stripe_header(header: str) -> tuple[str, list[str]]:
    """(t as sent, every v1 value). Other schemes (v0, the test-mode scheme) are ignored, as
    Stripe's own libraries do."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for element in header.split(","):
        name, separator, value = element.strip().partition("=")
        if not separator:
            continue
        if name == "t":
            timestamps.append(value.strip())
        elif name == "v1":
            signatures.append(value.strip().lower())
    if len(timestamps) != 1 or not _UNIX_SECONDS.fullmatch(timestamps[0]):
        raise Unauthorized("Malformed Stripe-Signature: expected one t=<unix seconds>")
    if not signatures:
        raise Unauthorized("Malformed Stripe-Signature: no v1 signature")
    return timestamps[0], signatures


def verify_stripe(
    secret: str | None,
    body: bytes,
    header: str | None,
    now_s: int,
    *,
    tolerance_s: int = STRIPE_TOLERANCE_SECONDS,
    future_s: int = STRIPE_FUTURE_SECONDS,
) -> int:
    """`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each v1 a hex HMAC-SHA256(secret,
    "<t>.<raw body>"); any one matching v1 passes (Stripe sends several while a secret is being
    rolled). Returns the signed timestamp. The time window refuses replays of a captured request."""
    if not secret:
        raise Unauthorized("No Stripe webhook secret is configured for this organization")
    if not header:
        raise Unauthorized("Missing Stripe-Signature")
    sent_t, signatures = _stripe_header(header)
    timestamp = int(sent_t)
    if now_s - timestamp > tolerance_s:
        raise Unauthorized("Stripe-Signature timestamp is too old")
    if timestamp - now_s > future_s:
        raise Unauthorized("Stripe-Signature timestamp is in the future")
    # The timestamp exactly as sent: it is what the sender signed.
    expected = hmac_sha256_hex(secret, f"{sent_t}.".encode() + body)
    # Every candidate is compared, so the time taken does not say which one came close.
    matches = [_same(signature, expected) for signature in signatures]
    if not any(matches):
        raise Unauthorized("Stripe signature does not match the body")
    return timestamp


# --- the per-organization secrets ---------------------------------------------------------

GITHUB_SECRET = "github_webhook_secret"
STRIPE_SECRET = "stripe_webhook_secret"
PROVIDER_SECRETS = {"github": GITHUB_SECRET, "stripe": STRIPE_SECRET}
MAX_SECRET_CHARS = 255


def split_provider_secrets(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str | None]]:
    """An organization settings update → (the settings without secrets, {attribute: new value}).

    A secret set to null or "" is cleared (None: the update removes the attribute). The secrets are
    stored as attributes of the organization item beside `settings`, so no document that returns
    settings can ever carry them.
    """
    rest = {k: v for k, v in settings.items() if k not in PROVIDER_SECRETS.values()}
    secrets: dict[str, str | None] = {}
    for name in PROVIDER_SECRETS.values():
        if name not in settings:
            continue
        value = settings[name]
        if value is None or value == "":
            secrets[name] = None
        elif isinstance(value, str) and len(value) <= MAX_SECRET_CHARS and value.strip() == value:
            secrets[name] = value
        else:
            message = f"must be a string of at most {MAX_SECRET_CHARS} characters without surrounding spaces"
            raise ValidationFailed(
                details=[{"field": f"settings.{name}", "message": message, "code": "invalid_secret"}]
            )
    return rest, secrets


def provider_secret_status(org: dict[str, Any], webhooks_url: str) -> dict[str, Any]:
    """Whether each provider secret is set (never the secret) and where that provider should send."""
    status: dict[str, Any] = {}
    for provider, attribute in PROVIDER_SECRETS.items():
        status[f"{provider}_webhook_url"] = f"{webhooks_url}/{provider}"
        status[f"has_{attribute}"] = bool(org.get(attribute))
    return status
