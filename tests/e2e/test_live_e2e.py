"""Live updates through the official SDK's realtime clients against `make dev` (contract §2.11): the
WebSocket upgrade at /api/v1/ws on the same host as the REST API, frames from the table's stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from spooled import SpooledClient
from spooled.errors import AuthenticationError
from spooled.realtime.events import RealtimeEvent
from spooled.realtime.unified import SubscriptionFilter
from spooled.realtime.websocket import (
    ConnectionState,
    WebSocketClient,
    WebSocketConnectionOptions,
)
from spooled.realtime.websocket import SubscriptionFilter as WsFilter
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import ClientFactory, RunningStack
from tests.e2e.sdk_helpers import wait_until

pytestmark = pytest.mark.e2e


def _ws_url(stack: RunningStack) -> str:
    return stack.base_url.replace("http://", "ws://")


def _of(events: list[RealtimeEvent], kind: str, job_id: str | None = None) -> list[dict[str, Any]]:
    return [
        e.data for e in list(events) if e.type == kind and (job_id is None or e.data.get("job_id") == job_id)
    ]


@contextmanager
def _socket(stack: RunningStack, token: str) -> Iterator[tuple[WebSocketClient, list[RealtimeEvent]]]:
    """The SDK's WebSocketClient, which (unlike the unified client) can ping: a Ping answered after a
    subscribe proves the subscription is in place, since commands are handled in order."""
    ws = WebSocketClient(WebSocketConnectionOptions(ws_url=_ws_url(stack), token=token, auto_reconnect=False))
    events: list[RealtimeEvent] = []
    ws.on_event(events.append)
    ws.connect()
    try:
        yield ws, events
    finally:
        ws.disconnect()


def _barrier(ws: WebSocketClient, events: list[RealtimeEvent]) -> None:
    pings = len(_of(events, "ping"))
    ws.ping()
    wait_until(lambda: len(_of(events, "ping")) > pings, "the Ping answering our ping")


def _own_key_client(client: SpooledClient, make_client: ClientFactory) -> SpooledClient:
    """A client with a key of its own: the realtime clients log in, and logins are limited per key."""
    return make_client(client.api_keys.create({"name": "live e2e"}).key)


def test_a_subscribed_queue_sees_a_job_created_claimed_and_completed(
    client: SpooledClient, make_client: ClientFactory, queue_name: str
) -> None:
    client = _own_key_client(client, make_client)
    realtime = client.realtime(auto_reconnect=False)
    events: list[RealtimeEvent] = []
    realtime.on_event(events.append)
    realtime.connect()
    try:
        realtime.subscribe(SubscriptionFilter(queue=queue_name))
        job_id = client.jobs.create({"queue_name": queue_name, "payload": {"n": 1}, "priority": 5}).id
        [leased] = client.jobs.claim({"queue_name": queue_name, "worker_id": "live-e2e", "limit": 1}).jobs
        assert leased.id == job_id
        client.jobs.complete(
            job_id, {"worker_id": "live-e2e", "lease_id": leased.lease_id, "result": {"ok": 1}}
        )
        wait_until(lambda: _of(events, "job.completed", job_id), "the JobCompleted frame")
    finally:
        realtime.disconnect()

    [created] = _of(events, "job.created", job_id)
    assert (created["queue_name"], created["priority"]) == (queue_name, 5)
    changes = [(d["old_status"], d["new_status"]) for d in _of(events, "job.status_changed", job_id)]
    assert changes == [("pending", "processing"), ("processing", "completed")]
    [completed] = _of(events, "job.completed", job_id)
    assert completed["result"] == {"ok": 1} and completed["duration_ms"] >= 0
    kinds = [e.type for e in events if isinstance(e.data, dict) and e.data.get("job_id") == job_id]
    assert kinds == ["job.created", "job.status_changed", "job.status_changed", "job.completed"]


def test_a_subscription_keeps_other_queues_out(
    client: SpooledClient, make_client: ClientFactory, local_stack: RunningStack, queue_name: str
) -> None:
    client = _own_key_client(client, make_client)
    with _socket(local_stack, client.get_jwt_token()) as (ws, events):
        ws.subscribe(WsFilter(queue=queue_name))
        _barrier(ws, events)
        elsewhere = client.jobs.create({"queue_name": f"{queue_name}-other", "payload": {}}).id
        mine = client.jobs.create({"queue_name": queue_name, "payload": {}}).id
        wait_until(lambda: _of(events, "job.created", mine), "our queue's JobCreated")
        # Frames of one connection arrive in stream order, and the other job was created first.
        assert _of(events, "job.created", elsewhere) == []


def test_a_queue_scoped_key_sees_only_its_queue(
    client: SpooledClient, local_stack: RunningStack, queue_name: str
) -> None:
    key = client.api_keys.create({"name": "live scoped", "queues": [queue_name]}).key
    with _socket(local_stack, key) as (ws, events):
        _barrier(ws, events)
        elsewhere = client.jobs.create({"queue_name": f"{queue_name}-other", "payload": {}}).id
        mine = client.jobs.create({"queue_name": queue_name, "payload": {}}).id
        wait_until(lambda: _of(events, "job.created", mine), "our queue's JobCreated")
        assert _of(events, "job.created", elsewhere) == []


def test_an_invalid_key_is_refused_and_the_sdk_raises(
    make_client: ClientFactory, local_stack: RunningStack
) -> None:
    with pytest.raises(AuthenticationError):
        make_client("sp_test_not_a_real_key_0123456789abcdefghijkl").realtime()

    ws = WebSocketClient(
        WebSocketConnectionOptions(
            ws_url=_ws_url(local_stack), token="sp_test_not_a_real_key", auto_reconnect=True
        )
    )
    with pytest.raises(InvalidStatus) as refused:
        ws.connect()
    assert refused.value.response.status_code == 401
    assert json.loads(bytes(refused.value.response.body))["code"] == "UNAUTHORIZED"
    assert ws.state == ConnectionState.DISCONNECTED  # raised, and is not dialling again
