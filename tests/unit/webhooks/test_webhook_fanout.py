"""Which change events become which delivery messages (pure part of shared/webhooks/outgoing/fanout.py), and
the messages and payloads themselves."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.plumbing.change_events import ChangeEvent
from shared.plumbing.clock import to_rfc3339
from shared.webhooks.outgoing import payloads as webhook_payloads
from shared.webhooks.outgoing.fanout import MAX_BODY_BYTES, Subscription, messages_for, orgs_to_read
from shared.webhooks.outgoing.messages import DeliveryMessage

AT = 1_767_225_600_123


def event(name: str, org: str = "org-a", job: str = "job-1", **extra: Any) -> ChangeEvent:
    data: dict[str, Any] = {"job_id": job, "queue_name": "emails"}
    if name == "job.completed":
        data.update(status="completed", result={"ok": True})
    return ChangeEvent(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{org}/{job}/{name}")),
        name=name,
        org_id=org,
        at_ms=AT,
        data=data,
        queue_name="emails",
        job_id=job,
        extra=extra,
    )


def sub(webhook_id: str, *events: str, enabled: bool = True) -> Subscription:
    return Subscription(webhook_id, frozenset(events), enabled)


SUBSCRIBERS = {
    "org-a": [
        sub("hook-completed", "job.completed"),
        sub("hook-disabled", "job.completed", "job.created", enabled=False),
        sub("hook-both", "job.completed", "job.failed"),
    ],
}


def _pairs(messages: list[DeliveryMessage]) -> list[tuple[str, str | None, str | None]]:
    return [(m.event, m.webhook_id, m.job_id) for m in messages]


def test_each_enabled_webhook_gets_the_events_it_subscribed_to() -> None:
    events = [event("job.created"), event("job.status"), event("job.completed"), event("job.started")]
    assert _pairs(messages_for(events, SUBSCRIBERS)) == [
        ("job.completed", "hook-completed", None),
        ("job.completed", "hook-both", None),
    ]


def test_other_organizations_webhooks_see_nothing() -> None:
    assert messages_for([event("job.completed", org="org-b")], SUBSCRIBERS) == []


def test_completion_webhooks_on_completion_and_terminal_failure_only() -> None:
    hook = {"completion_webhook": "https://example.com/done"}
    events = [
        event("job.completed", org="org-b", **hook),
        event("job.failed", org="org-b", job="job-2", **hook),
        event("job.cancelled", org="org-b", job="job-3", **hook),
        event("job.started", org="org-b", job="job-4", **hook),
        event("job.completed", org="org-b", job="job-5"),  # no completion webhook
    ]
    assert _pairs(messages_for(events, {})) == [
        ("job.completed", None, "job-1"),
        ("job.failed", None, "job-2"),
    ]


def test_delivery_ids_are_stable_across_replays_and_distinct_per_target() -> None:
    events = [event("job.completed", completion_webhook="https://example.com/done")]
    first = messages_for(events, SUBSCRIBERS)
    replay = messages_for(events, SUBSCRIBERS)
    assert [m.delivery_id for m in first] == [m.delivery_id for m in replay]
    assert len({m.delivery_id for m in first}) == 3
    assert all(webhook_payloads.delivery_created_ms(m.delivery_id) == AT for m in first)


def test_the_body_is_the_contract_envelope() -> None:
    (message,) = messages_for([event("job.completed")], {"org-a": [sub("h", "job.completed")]})
    assert json.loads(message.body) == {
        "id": message.delivery_id,
        "event": "job.completed",
        "created_at": to_rfc3339(AT),
        "data": {"job_id": "job-1", "queue_name": "emails", "status": "completed", "result": {"ok": True}},
    }
    assert message.attempt == 1 and message.created_ms == AT


def test_a_result_too_large_for_a_message_is_left_out() -> None:
    big = event("job.completed")
    big.data["result"] = "x" * (MAX_BODY_BYTES + 10)
    (message,) = messages_for([big], {"org-a": [sub("h", "job.completed")]})
    data = json.loads(message.body)["data"]
    assert data["result"] is None and data["result_truncated"] is True
    assert data["job_id"] == "job-1"


def test_only_organizations_with_subscribable_events_are_read() -> None:
    events = [
        event("job.status", org="org-x"),
        event("worker.heartbeat", org="org-y"),
        event("job.created", org="org-z"),
        event("job.completed", org="org-z"),
        event("queue.paused", org="org-w"),
    ]
    assert orgs_to_read(events) == ["org-z", "org-w"]


def test_delivery_messages_round_trip() -> None:
    message = DeliveryMessage("org", "d-1", "job.failed", AT, '{"id":"d-1"}', attempt=3, webhook_id="h")
    assert DeliveryMessage.from_json(message.to_json()) == message
    assert message.next_attempt().attempt == 4
    completion = DeliveryMessage("org", "d-2", "job.completed", AT, "{}", job_id="job-9")
    assert DeliveryMessage.from_json(completion.to_json()) == completion


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"kind": "wake"}',
        '{"kind": "outhook", "org": "o", "id": "d", "event": "e", "at": 1, "body": "{}"}',  # no target
        '{"kind": "outhook", "org": "o", "id": "d", "event": "e", "at": 1, "body": "{}", "hook": "h", '
        '"job": "j"}',
    ],
)
def test_unreadable_messages_are_refused(text: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        DeliveryMessage.from_json(text)


def test_delivery_created_ms_reads_only_our_ids() -> None:
    assert webhook_payloads.delivery_created_ms(webhook_payloads.delivery_id("e", "w", 42)) == 42
    assert webhook_payloads.delivery_created_ms(str(uuid.uuid4())) is None
    assert webhook_payloads.delivery_created_ms("not-a-uuid") is None


@pytest.mark.parametrize(
    ("fmt", "key"),
    [("slack", "text"), ("discord", "content"), ("teams", "text")],
)
def test_chat_formats_send_a_message_the_service_accepts(fmt: str, key: str) -> None:
    document = webhook_payloads.envelope(
        "d", "job.failed", AT, {"job_id": "j1", "queue_name": "q", "error": "boom"}
    )
    body = json.loads(webhook_payloads.render(fmt, document))
    assert "job.failed" in body[key] and "j1" in body[key] and "boom" in body[key]


def test_json_format_sends_the_document_itself() -> None:
    document = webhook_payloads.envelope("d", "job.created", AT, {"job_id": "j1"})
    assert json.loads(webhook_payloads.render("json", document)) == document


def test_the_test_message_has_the_reference_shape() -> None:
    document = webhook_payloads.probe_document("hook-1", "org-1", AT)
    assert document == {
        "event": "webhook.test",
        "webhook_id": "hook-1",
        "organization_id": "org-1",
        "timestamp": to_rfc3339(AT),
        "test": True,
        "message": "This is a test webhook from Spooled",
    }
