"""Signing outgoing webhook requests (contract §3.11). Pure.

`X-Spooled-Signature: sha256=<hex(HMAC-SHA256(secret, "<X-Spooled-Timestamp>.<raw body>"))>`: the
timestamp is inside the signed text, so a receiver that rejects old timestamps also rejects a
captured request replayed later. Requests to a webhook without a secret carry no signature.
"""

from __future__ import annotations

import hashlib
import hmac

USER_AGENT = "Spooled-OutgoingWebhook/1.0"
SIGNATURE_PREFIX = "sha256="


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    *,
    now_s: int | None = None,
    tolerance_s: int = 300,
) -> bool:
    """What a receiver does. With now_s, a timestamp further than tolerance_s from it is refused."""
    if not timestamp_header or not signature_header:
        return False
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if now_s is not None and abs(now_s - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header.strip())


def request_headers(
    *, event: str, timestamp: int, attempt: int, body: bytes, secret: str | None
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Spooled-Event": event,
        "X-Spooled-Timestamp": str(timestamp),
        "X-Spooled-Delivery-Attempt": str(attempt),
    }
    if secret:
        headers["X-Spooled-Signature"] = signature(secret, timestamp, body)
    return headers
