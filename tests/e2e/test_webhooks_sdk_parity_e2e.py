"""Every public method of the SDK's webhooks, ingest and realtime resources against `make dev`, with
the values a user reads from them (contract §2.9, §2.10, §2.11): an organization of the test's own,
so its lists hold only what the test made."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from spooled import SpooledClient
from spooled.errors import AuthorizationError, NotFoundError
from spooled.realtime.events import RealtimeEvent
from spooled.realtime.unified import ConnectionState, SubscriptionFilter
from spooled.realtime.websocket import SubscriptionFilter as WsFilter
from spooled.realtime.websocket import WebSocketClient, WebSocketConnectionOptions

from shared.webhooks.outgoing.signing import verify
from tests.e2e.conftest import ClientFactory, RunningStack
from tests.e2e.sdk_helpers import wait_until
from tests.functional.webhook_receiver import Received, Receiver, running_receiver

pytestmark = pytest.mark.e2e

SECRET = "whsec_parity_0123456789"


@dataclass(frozen=True)
class Tenant:
    client: SpooledClient
    org_id: str
    api_key: str


@pytest.fixture
def tenant(make_client: ClientFactory) -> Tenant:
    slug = f"parity-{uuid.uuid4().hex[:10]}"
    created = make_client().organizations.create({"name": "Parity E2E", "slug": slug})
    return Tenant(make_client(created.api_key.key), created.organization.id, created.api_key.key)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running_one:
        yield running_one


def _requests(receiver: Receiver) -> list[Received]:
    with receiver.lock:
        return list(receiver.requests)


def _event_for(receiver: Receiver, event: str, job_id: str) -> Received | None:
    return next(
        (
            r
            for r in _requests(receiver)
            if r.json.get("event") == event and r.json.get("data", {}).get("job_id") == job_id
        ),
        None,
    )


def test_every_outgoing_webhook_method(tenant: Tenant, receiver: Receiver) -> None:
    client = tenant.client
    quiet = client.webhooks.create(
        {"name": "quiet", "url": receiver.url, "events": ["queue.paused"], "enabled": False}
    )
    hook = client.webhooks.create(
        {"name": "orders", "url": receiver.url, "events": ["job.created"], "secret": SECRET}
    )
    assert (hook.organization_id, hook.name, hook.url, hook.events) == (
        tenant.org_id,
        "orders",
        receiver.url,
        ["job.created"],
    )
    assert (hook.format, hook.enabled, hook.failure_count, hook.last_status) == ("json", True, 0, None)
    assert hook.last_triggered_at is None and hook.created_at == hook.updated_at
    assert "secret" not in client.webhooks.get(hook.id).model_dump()
    assert [h.id for h in client.webhooks.list()] == [hook.id, quiet.id]
    assert client.webhooks.list()[1].enabled is False

    renamed = client.webhooks.update(
        hook.id, {"name": "orders v2", "events": ["job.created", "job.completed"]}
    )
    assert (renamed.name, renamed.events, renamed.enabled) == (
        "orders v2",
        ["job.created", "job.completed"],
        True,
    )
    assert renamed.updated_at >= hook.updated_at

    probe = client.webhooks.test(hook.id)
    assert probe.success is True and probe.status_code == 200 and probe.error is None
    assert probe.response_time_ms >= 0
    sent = _requests(receiver)[-1]
    assert sent.json["event"] == "webhook.test" and sent.json["webhook_id"] == hook.id
    # The secret was left out of the update, so it still signs.
    assert verify(SECRET, sent.body, sent.headers["x-spooled-timestamp"], sent.headers["x-spooled-signature"])

    # The receiver fails the first attempt; a manual retry delivers it before the automatic one.
    receiver.respond_with(503)
    queue = f"parity-{uuid.uuid4().hex[:8]}"
    job_id = client.jobs.create({"queue_name": queue, "payload": {"n": 1}}).id
    wait_until(lambda: _event_for(receiver, "job.created", job_id), "the first job.created attempt")

    def failed_once() -> list[Any]:
        rows = client.webhooks.get_deliveries(hook.id, {"status": "pending"})
        return [d for d in rows if d.attempts == 1 and d.status_code == 503]

    [pending] = wait_until(failed_once, "the failed attempt in the log")
    assert (pending.event, pending.error, pending.payload["data"]["job_id"]) == (
        "job.created",
        "HTTP 503",
        job_id,
    )
    assert pending.delivered_at is None
    # The attempt's log row and the webhook's last_status are two writes, in that order: the
    # webhook says "failed" once the second lands (before the manual retry, whose "success" the
    # automatic attempt's note would otherwise overwrite).
    wait_until(lambda: client.webhooks.get(hook.id).last_status == "failed", "the webhook's last status")

    retried = client.webhooks.retry_delivery(hook.id, pending.id)
    assert retried.success is True and "200" in retried.message
    [done] = client.webhooks.get_deliveries(hook.id, {"status": "success", "limit": 5})
    assert (done.id, done.status, done.status_code, done.attempts) == (pending.id, "success", 200, 2)
    assert done.delivered_at is not None and done.error is None
    assert client.webhooks.get_deliveries(hook.id, {"limit": 1, "offset": 1}) == []
    after = client.webhooks.get(hook.id)
    assert (after.last_status, after.failure_count) == ("success", 0)
    assert after.last_triggered_at is not None

    with pytest.raises(NotFoundError):
        client.webhooks.retry_delivery(hook.id, str(uuid.uuid4()))

    receiver.respond_with(500)
    failing = client.webhooks.test(hook.id)
    assert (failing.success, failing.status_code, failing.error) == (False, 500, "HTTP 500")

    client.webhooks.update(hook.id, {"secret": None, "enabled": False})
    client.webhooks.delete(hook.id)
    with pytest.raises(NotFoundError):
        client.webhooks.get(hook.id)
    assert [h.id for h in client.webhooks.list()] == [quiet.id]
    client.webhooks.delete(quiet.id)
    assert client.webhooks.list() == []


def test_ingest_and_the_inbound_log_with_every_filter(tenant: Tenant, make_client: ClientFactory) -> None:
    client = tenant.client
    token = client.organizations.regenerate_webhook_token().webhook_token
    assert token
    queue = f"ingest-{uuid.uuid4().hex[:8]}"
    before = datetime.now(UTC) - timedelta(seconds=5)
    first = client.ingest.custom(
        tenant.org_id, {"queue_name": queue, "payload": [1, 2, 3]}, webhook_token=token
    )
    assert (first.queue_name, first.status) == (queue, "pending") and first.job_id
    assert client.jobs.get(first.job_id).payload == [1, 2, 3]
    second = client.ingest.custom(
        tenant.org_id,
        {"queue_name": queue, "event_type": "user.signup", "payload": {"u": 1}, "priority": -100},
        webhook_token=token,
    )
    assert client.jobs.get(second.job_id).priority == -100

    log = client.webhooks.list_inbound_deliveries(
        {"since": before, "queue_name": queue, "status": "created", "limit": 10, "offset": 0}
    )
    assert [(row.event_type, row.job_id, row.matched_queue) for row in log] == [
        ("user.signup", second.job_id, queue),
        ("custom", first.job_id, queue),
    ]
    assert client.webhooks.list_inbound_deliveries({"limit": 1, "offset": 1})[0].job_id == first.job_id
    assert client.webhooks.list_inbound_deliveries({"since": datetime.now(UTC) + timedelta(hours=1)}) == []

    scoped = make_client(client.api_keys.create({"name": "scoped", "queues": [queue]}).key)
    with pytest.raises(AuthorizationError):
        scoped.webhooks.list_inbound_deliveries()
    with pytest.raises(AuthorizationError):
        scoped.webhooks.list()


def _of(events: list[RealtimeEvent], kind: str, job_id: str) -> list[Any]:
    return [e.data for e in list(events) if e.type == kind and e.data.get("job_id") == job_id]


def test_realtime_subscribe_unsubscribe_and_reconnect_after_the_server_closes(
    tenant: Tenant, make_client: ClientFactory, local_stack: RunningStack
) -> None:
    client = tenant.client
    queue, other = f"live-{uuid.uuid4().hex[:8]}", f"live-{uuid.uuid4().hex[:8]}"
    key = client.api_keys.create({"name": "live parity"})
    realtime = make_client(key.key).realtime(reconnect_delay=0.1)
    events: list[RealtimeEvent] = []
    created: list[Any] = []
    states: list[ConnectionState] = []
    realtime.on_event(events.append)
    realtime.on("job.created", created.append)
    realtime.on_state_change(states.append)
    realtime.connect()
    try:
        realtime.subscribe(SubscriptionFilter(queue=queue))
        realtime.subscribe(SubscriptionFilter(queue=other))
        realtime.unsubscribe(SubscriptionFilter(queue=other))
        # A watcher with its own socket tells us when both jobs' frames have been fanned out.
        watcher = WebSocketClient(
            WebSocketConnectionOptions(
                ws_url=local_stack.base_url.replace("http://", "ws://"),
                token=tenant.api_key,
                auto_reconnect=False,
            )
        )
        seen: list[RealtimeEvent] = []
        watcher.on_event(seen.append)
        watcher.connect()
        try:
            watcher.subscribe(WsFilter(queue=other))
            watcher.unsubscribe(WsFilter(queue=other))
            watcher.subscribe(WsFilter(queue=queue))
            pings = len([e for e in seen if e.type == "ping"])
            watcher.ping()
            wait_until(lambda: len([e for e in seen if e.type == "ping"]) > pings, "the watcher's Ping")
            ignored = client.jobs.create({"queue_name": other, "payload": {}}).id
            wanted = client.jobs.create({"queue_name": queue, "payload": {}}).id
            wait_until(lambda: _of(events, "job.created", wanted), "the subscribed queue's JobCreated")
            wait_until(lambda: _of(seen, "job.created", wanted), "the watcher's JobCreated")
            assert _of(events, "job.created", ignored) == [] and _of(seen, "job.created", ignored) == []
            assert any(d.get("job_id") == wanted for d in created)

            # Re-scoping the key makes the server close its connections; the SDK dials again and
            # re-subscribes by itself (the subscribed queue is still inside the new scope).
            client.api_keys.update(key.id, {"queues": [queue]})
            wait_until(lambda: ConnectionState.RECONNECTING in states, "the SDK to notice the close")
            wait_until(lambda: realtime.state == ConnectionState.CONNECTED, "the SDK to reconnect")
            # The re-sent subscribe goes out right after the handshake, long before the stream
            # poller picks up these jobs.
            elsewhere = client.jobs.create({"queue_name": other, "payload": {}}).id
            after = client.jobs.create({"queue_name": queue, "payload": {}}).id
            wait_until(lambda: _of(events, "job.created", after), "a frame after the reconnect")
            assert _of(events, "job.created", elsewhere) == []

            # An explicit reconnect keeps the subscriptions; events() yields what handlers get.
            realtime.off("job.created", created.append)
            realtime.reconnect()
            assert realtime.get_state() == ConnectionState.CONNECTED
            iterated: list[RealtimeEvent] = []

            def consume() -> None:
                for event in realtime.events():
                    iterated.append(event)

            threading.Thread(target=consume, daemon=True).start()
            made: list[str] = []

            def iterated_a_job() -> bool:
                made.append(client.jobs.create({"queue_name": queue, "payload": {}}).id)
                return any(e.type == "job.created" and e.data.get("job_id") in made for e in list(iterated))

            wait_until(iterated_a_job, "a JobCreated from events()")
            assert not any(d.get("job_id") in made for d in created)  # that handler was removed
        finally:
            watcher.disconnect()
    finally:
        realtime.disconnect()
    assert realtime.state == ConnectionState.DISCONNECTED
