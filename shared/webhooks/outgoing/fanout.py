"""From the stream's change events to webhook delivery messages (contract §3.11, §3.6).

Called by the dispatcher with each stream batch's events. For every organization with an event a
webhook can subscribe to, one Query of its subscription partition (OUTHOOKS#{org}, eventually
consistent: 0.5 read units when the org has no webhooks) says which enabled webhooks want which
events, kept for CACHE_SECONDS in the process, so a busy organization costs one read per container
every few seconds, not one per batch. Writes through the API in the same process drop the cached
entry at once (in `make dev` the API and the dispatcher share a process; on AWS a new or changed
webhook is seen within CACHE_SECONDS). Then one message per (webhook, matching event), and one per
job event that has a completion webhook, each with a delivery id derived from the event id, so a
replayed batch sends messages for deliveries that already exist, which the deliverer drops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.identity.organizations import organization_active
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.config import settings
from shared.plumbing.timer_queue import MessageSender, OutgoingMessage, SqsSender
from shared.webhooks.outgoing import expressions as ex
from shared.webhooks.outgoing import payloads as webhook_payloads
from shared.webhooks.outgoing.messages import DeliveryMessage

if TYPE_CHECKING:
    from shared.plumbing.change_events import ChangeEvent

CACHE_SECONDS = 5.0
COMPLETION_EVENTS = ("job.completed", "job.failed")  # job.failed comes for terminal failures only
# SQS takes messages up to 1 MiB; a result that would push a message past this is left out of it
# (the job's result stays readable through the API) rather than the event being lost.
MAX_BODY_BYTES = 240 * 1024
_SUBSCRIBABLE = frozenset(webhook_payloads.EVENTS)


@dataclass(frozen=True)
class Subscription:
    webhook_id: str
    events: frozenset[str]
    enabled: bool


_cache: dict[str, tuple[float, list[Subscription]]] = {}
_cache_lock = threading.Lock()


def invalidate(org_id: str | None = None) -> None:
    with _cache_lock:
        if org_id is None:
            _cache.clear()
        else:
            _cache.pop(org_id, None)


def subscriptions(table: str, org_id: str) -> list[Subscription]:
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(org_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    db = aws_clients.client("dynamodb")
    args = ex.query_subscriptions(table, org_id, consistent=False)
    found: list[Subscription] = []
    # A soft-deleted organization's webhooks send nothing more (issue 12, finding 9).
    while organization_active(table, org_id):
        page = db.query(**args)
        for raw in page.get("Items", []):
            row = dynamo_codec.decode_item(raw)
            found.append(
                Subscription(
                    str(row["webhook_id"]), frozenset(row.get("events") or ()), bool(row.get("enabled"))
                )
            )
        if "LastEvaluatedKey" not in page:
            break
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    with _cache_lock:
        _cache[org_id] = (now + CACHE_SECONDS, found)
    return found


def _body(delivery: str, event: ChangeEvent) -> str:
    body = webhook_payloads.encode(webhook_payloads.envelope(delivery, event.name, event.at_ms, event.data))
    if len(body) > MAX_BODY_BYTES and "result" in event.data:
        data = {**event.data, "result": None, "result_truncated": True}
        body = webhook_payloads.encode(webhook_payloads.envelope(delivery, event.name, event.at_ms, data))
    return body.decode("utf-8")


def _message(event: ChangeEvent, target: str, **recipient: str) -> DeliveryMessage:
    """One delivery of `event` to a recipient (webhook_id=… or job_id=…); `target` keeps the
    delivery ids of different recipients of one event apart."""
    delivery = webhook_payloads.delivery_id(event.id, target, event.at_ms)
    return DeliveryMessage(
        org_id=event.org_id,
        delivery_id=delivery,
        event=event.name,
        created_ms=event.at_ms,
        body=_body(delivery, event),
        **recipient,
    )


def messages_for(
    events: Iterable[ChangeEvent], subscribers: Mapping[str, list[Subscription]]
) -> list[DeliveryMessage]:
    """Pure: the delivery messages of `events`, given each organization's subscriptions."""
    messages: list[DeliveryMessage] = []
    for event in events:
        for sub in subscribers.get(event.org_id, ()):
            if sub.enabled and event.name in sub.events:
                messages.append(_message(event, sub.webhook_id, webhook_id=sub.webhook_id))
        if event.name in COMPLETION_EVENTS and event.job_id and event.extra.get("completion_webhook"):
            messages.append(_message(event, f"job:{event.job_id}", job_id=event.job_id))
    return messages


def orgs_to_read(events: Iterable[ChangeEvent]) -> list[str]:
    """Organizations whose webhooks could want one of the events (heartbeats, job.status: none)."""
    return list(dict.fromkeys(e.org_id for e in events if e.name in _SUBSCRIBABLE and e.org_id))


def fan_out(events: list[ChangeEvent], table: str | None = None, sender: MessageSender | None = None) -> int:
    """Queue the deliveries of one stream batch's events; returns how many messages were sent."""
    table = table or settings().table_name
    subscribers = {org: subscriptions(table, org) for org in orgs_to_read(events)}
    messages = messages_for(events, subscribers)
    if messages:
        (sender or SqsSender(settings().webhook_queue_url)).send(
            [OutgoingMessage(m.to_json()) for m in messages]
        )
    return len(messages)
