"""The messages on the webhook delivery queue: one names one attempt of one delivery, either to an
outgoing webhook or to a job's completion webhook (shared/webhooks/outgoing/delivery.py handles them)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryMessage:
    org_id: str
    delivery_id: str
    event: str
    created_ms: int
    body: str  # the envelope as JSON text: what is signed, sent and recorded
    attempt: int = 1
    webhook_id: str | None = None
    job_id: str | None = None  # set (and webhook_id None) for a job's completion webhook

    def to_json(self) -> str:
        document = {
            "kind": "outhook",
            "org": self.org_id,
            "id": self.delivery_id,
            "event": self.event,
            "at": self.created_ms,
            "attempt": self.attempt,
            "hook": self.webhook_id,
            "job": self.job_id,
            "body": self.body,
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> DeliveryMessage:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("kind") != "outhook":
            raise ValueError("not a webhook delivery message")
        webhook_id, job_id = document.get("hook"), document.get("job")
        if bool(webhook_id) == bool(job_id):
            raise ValueError("a delivery message names either a webhook or a job")
        return DeliveryMessage(
            org_id=str(document["org"]),
            delivery_id=str(document["id"]),
            event=str(document["event"]),
            created_ms=int(document["at"]),
            body=str(document["body"]),
            attempt=int(document.get("attempt", 1)),
            webhook_id=str(webhook_id) if webhook_id else None,
            job_id=str(job_id) if job_id else None,
        )

    def next_attempt(self) -> DeliveryMessage:
        return DeliveryMessage(
            self.org_id,
            self.delivery_id,
            self.event,
            self.created_ms,
            self.body,
            self.attempt + 1,
            self.webhook_id,
            self.job_id,
        )
