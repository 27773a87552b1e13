"""What an outgoing webhook request carries (contract §3.11): event names, the envelope, the body
for chat formats, the test message, and delivery ids. Pure."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from shared.plumbing.clock import to_rfc3339

# §3.11 (backend 0.1.111) plus what SDK 1.6.0 lets a caller subscribe to.
EVENTS = (
    "job.created",
    "job.started",
    "job.completed",
    "job.failed",
    "job.cancelled",
    "job.deadlettered",
    "job.retried",
    "queue.paused",
    "queue.resumed",
    "worker.registered",
    "worker.deregistered",
    "schedule.triggered",
    "workflow.completed",
    "workflow.failed",
)
FORMATS = ("json", "slack", "discord", "teams")
TEST_EVENT = "webhook.test"


def delivery_id(event_id: str, target_id: str, at_ms: int) -> str:
    """The id of the one delivery of event `event_id` to `target_id` (a webhook, or a job's completion
    webhook). Deterministic, so a replayed stream batch names the same delivery and finds it already
    made. Laid out as a UUIDv7 (time in the first 48 bits, hash bits elsewhere), so the id alone
    locates the delivery row, whose sort key starts with that time."""
    digest = int.from_bytes(hashlib.sha256(f"{event_id}|{target_id}".encode()).digest()[:10], "big")
    value = (at_ms & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((digest >> 64) & 0x0FFF) << 64
    value |= 0b10 << 62  # RFC 4122 variant
    value |= digest & (2**62 - 1)
    return str(uuid.UUID(int=value))


def delivery_created_ms(delivery: str) -> int | None:
    """The time a delivery id carries, or None for a string that is not one of ours."""
    try:
        parsed = uuid.UUID(delivery)
    except ValueError:
        return None
    if parsed.version != 7:
        return None
    return parsed.int >> 80


def envelope(delivery: str, event: str, at_ms: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": delivery, "event": event, "created_at": to_rfc3339(at_ms), "data": data}


def encode(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def probe_document(webhook_id: str, org_id: str, now_ms: int) -> dict[str, Any]:
    """The body of POST /outgoing-webhooks/{id}/test: not an envelope, as in the reference."""
    return {
        "event": TEST_EVENT,
        "webhook_id": webhook_id,
        "organization_id": org_id,
        "timestamp": to_rfc3339(now_ms),
        "test": True,
        "message": "This is a test webhook from Spooled",
    }


_SUMMARY_FIELDS = ("queue_name", "job_id", "status", "worker_id", "schedule_id", "reason", "error")


def summary(event: str, data: dict[str, Any]) -> str:
    """One line for a person reading a chat channel."""
    details = [f"{name.replace('_', ' ')}: {data[name]}" for name in _SUMMARY_FIELDS if data.get(name)]
    text = f"Spooled {event}"
    return f"{text} ({', '.join(details)})" if details else text


def render(fmt: str, document: dict[str, Any]) -> bytes:
    """The request body for a webhook's format. `json` sends the document itself; the chat formats
    send the message their incoming-webhook URLs accept."""
    if fmt not in ("slack", "discord", "teams"):
        return encode(document)
    event = str(document.get("event", ""))
    data = document.get("data")
    if event == TEST_EVENT:
        text = "Spooled test webhook: this endpoint receives Spooled events"
    else:
        text = summary(event, data if isinstance(data, dict) else {})
    if fmt == "slack":
        return encode({"text": text})
    if fmt == "discord":
        return encode({"content": text[:2000]})  # Discord refuses longer messages
    return encode(
        {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": f"Spooled {event}",
            "text": text,
        }
    )
