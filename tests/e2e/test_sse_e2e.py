"""Server-sent events through the official SDK's SSE client against `make dev` (contract §2.11,
docs/sse.md): buffered windows from the event log, which the client reconnects to.

The SDK 1.6.0 SSE client sends no Last-Event-ID: between the server's windows it resumes from the
position the server saved for its key and stream. A client that does send Last-Event-ID (a
browser's EventSource, the raw reader below) resumes after exactly that event, also after it
dropped a window half read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from spooled import SpooledClient
from spooled.errors import AuthenticationError
from spooled.realtime.events import RealtimeEvent
from spooled.realtime.sse import SSEClient

from tests.e2e.conftest import ClientFactory, RunningStack
from tests.e2e.sdk_helpers import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class Stream:
    sse: SSEClient
    events: list[RealtimeEvent] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None

    def of(self, kind: str, job_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e.data
            for e in list(self.events)
            if e.type == kind and (job_id is None or e.data.get("job_id") == job_id)
        ]

    def job_view(self, job_id: str) -> list[tuple[str, str | None]]:
        return [
            (e.type, e.data.get("new_status"))
            for e in list(self.events)
            if e.type.startswith("job.") and e.data.get("job_id") == job_id
        ]

    def positioned(self) -> None:
        """A first window has ended: the stream has a position, later writes reach it."""
        wait_until(lambda: self.of("system.health") or self.events, "the first window of the stream")


@contextmanager
def _sdk_stream(stack: RunningStack, token: str, **filters: Any) -> Iterator[Stream]:
    stream = Stream(SSEClient(stack.base_url, token, **filters))

    def consume() -> None:
        try:
            for event in stream.sse.events():
                stream.events.append(event)
        except BaseException as error:  # what the SDK raises is what the test checks
            stream.errors.append(error)

    stream.thread = threading.Thread(target=consume, daemon=True)
    stream.thread.start()
    try:
        yield stream
    finally:
        stream.sse.close()
        stream.thread.join(timeout=15)


def _own_key(client: SpooledClient, make_client: ClientFactory) -> tuple[SpooledClient, str, str]:
    created = client.api_keys.create({"name": "sse e2e"})
    return make_client(created.key), created.key, created.id


def _work(client: SpooledClient, queue: str, job_id: str) -> None:
    [leased] = client.jobs.claim({"queue_name": queue, "worker_id": "sse-e2e", "limit": 1}).jobs
    assert leased.id == job_id
    client.jobs.complete(job_id, {"worker_id": "sse-e2e", "lease_id": leased.lease_id, "result": {"ok": 1}})


def test_a_queue_stream_sees_a_job_created_started_and_completed(
    local_stack: RunningStack, client: SpooledClient, make_client: ClientFactory, queue_name: str
) -> None:
    client, key, _ = _own_key(client, make_client)
    with _sdk_stream(local_stack, key, queue=queue_name) as stream:
        stream.positioned()
        job_id = client.jobs.create({"queue_name": queue_name, "payload": {"n": 1}, "priority": 5}).id
        client.jobs.create({"queue_name": f"{queue_name}-other", "payload": {"n": 2}})
        _work(client, queue_name, job_id)
        wait_until(lambda: stream.of("job.completed", job_id), "job.completed over SSE")
        assert stream.job_view(job_id) == [
            ("job.created", None),
            ("job.status_changed", "processing"),
            ("job.status_changed", "completed"),
            ("job.completed", None),
        ]
        assert stream.of("job.completed", job_id)[0]["result"] == {"ok": 1}
        assert {e.data.get("queue_name") for e in stream.events if e.type.startswith("job.")} == {queue_name}
        assert not stream.errors


def test_a_job_stream_follows_the_job_until_it_ends(
    local_stack: RunningStack, client: SpooledClient, make_client: ClientFactory, queue_name: str
) -> None:
    client, key, _ = _own_key(client, make_client)
    job_id = client.jobs.create({"queue_name": queue_name, "payload": {"n": 1}}).id
    with _sdk_stream(local_stack, key, job_id=job_id) as stream:
        wait_until(lambda: stream.of("job.status_changed"), "the job's status when the stream starts")
        _work(client, queue_name, job_id)
        assert stream.thread is not None
        wait_until(lambda: not stream.thread.is_alive(), "the SDK to end the stream after completed")
        assert [d["new_status"] for d in stream.of("job.status_changed")] == [
            "pending",
            "processing",
            "completed",
        ]
        assert not stream.errors


def test_the_sdk_resumes_between_windows_without_losing_or_repeating_an_event(
    local_stack: RunningStack, client: SpooledClient, make_client: ClientFactory, queue_name: str
) -> None:
    """Jobs are created while windows end and the client reconnects (the SDK waits 1 s between
    them), so several land while no request is open; each arrives exactly once."""
    client, key, _ = _own_key(client, make_client)
    with _sdk_stream(local_stack, key, queue=queue_name) as stream:
        stream.positioned()
        ids: list[str] = []
        for n in range(8):
            ids.append(client.jobs.create({"queue_name": queue_name, "payload": {"n": n}}).id)
            threading.Event().wait(0.4)
        wait_until(lambda: len(stream.of("job.created")) >= len(ids), "every job.created")
        threading.Event().wait(1.5)  # room for a repeat to show up, if there were one
        assert [d["job_id"] for d in stream.of("job.created")] == ids
        assert not stream.errors


def _raw_window(
    stack: RunningStack, key: str, queue: str, last_id: str | None, stop_after: str | None = None
):
    """One window read the way a browser's EventSource reads it: frames with ids; `stop_after` drops
    the connection right after the first event of that kind (the rest of the window is unread)."""
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    frames: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", f"{stack.base_url}/api/v1/events", params={"queue": queue}, headers=headers, timeout=30
    ) as r:
        assert r.status_code == 200
        fields: dict[str, str] = {}
        for line in r.iter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "data" in fields:
                frames.append(
                    {"id": fields.get("id"), "event": fields.get("event"), "data": json.loads(fields["data"])}
                )
                if stop_after and fields.get("event") == stop_after:
                    return frames  # forced disconnect: the connection closes with the window half read
            fields = {}
    return frames


def test_last_event_id_resumes_after_a_forced_disconnect(
    local_stack: RunningStack, client: SpooledClient, make_client: ClientFactory, queue_name: str
) -> None:
    client, key, _ = _own_key(client, make_client)
    start = _raw_window(local_stack, key, queue_name, None)[-1]["id"]
    first = client.jobs.create({"queue_name": queue_name, "payload": {"n": 1}}).id
    second = client.jobs.create({"queue_name": queue_name, "payload": {"n": 2}}).id

    def both_logged() -> list[dict[str, Any]] | None:
        frames = _raw_window(local_stack, key, queue_name, start)
        return frames if len([f for f in frames if f["event"] == "job.created"]) == 2 else None

    wait_until(both_logged, "both jobs in the event log")
    dropped = _raw_window(local_stack, key, queue_name, start, stop_after="job.created")
    assert dropped[-1]["data"]["data"]["job_id"] == first
    third = client.jobs.create({"queue_name": queue_name, "payload": {"n": 3}}).id

    seen: list[str] = []
    position = dropped[-1]["id"]

    def resumed() -> bool:
        nonlocal position
        for frame in _raw_window(local_stack, key, queue_name, position):
            if frame["event"] == "job.created":
                seen.append(frame["data"]["data"]["job_id"])
            position = frame["id"]
        return third in seen

    wait_until(resumed, "the third job after resuming")
    assert seen == [second, third]


def test_a_revoked_key_ends_the_stream_with_an_authentication_error(
    local_stack: RunningStack, client: SpooledClient, make_client: ClientFactory
) -> None:
    _, key, key_id = _own_key(client, make_client)
    with _sdk_stream(local_stack, key) as stream:
        stream.positioned()
        client.api_keys.delete(key_id)
        assert stream.thread is not None
        wait_until(lambda: not stream.thread.is_alive(), "the SDK to stop at the 401")
        assert len(stream.errors) == 1 and isinstance(stream.errors[0], AuthenticationError)
    with pytest.raises(AuthenticationError):
        SSEClient(local_stack.base_url, key).connect()
