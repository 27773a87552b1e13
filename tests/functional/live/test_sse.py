"""Server-sent events against moto (contract §2.11, docs/sse.md): the real API handler serves
windows from the event log that the real live-updates handler appends to from the table's stream."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from functions.live_updates import handler as live
from shared.live import sse
from tests.conftest import ApiClient, Org
from tests.functional.jobs_api import JOBS, V1, claim_one, create_job

EVENTS = f"{V1}/events"


def parse(text: str) -> list[dict[str, Any]]:
    """SSE frames as {id, event, data}; comments and retry hints left out."""
    frames = []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or line.startswith("retry:"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            frames.append(fields)
    return frames


@pytest.fixture
def drain(api: ApiClient, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Feeds new stream records to the dispatcher and the live handler (no WebSocket API: only the
    event log is written), then moves the clock past the log's settling delay. Windows do not hold."""
    from functions.dispatcher.handler import handle_stream as dispatcher
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    monkeypatch.setattr(sse, "HOLD_SECONDS", 0.0)
    monkeypatch.setattr(live, "poster", lambda: (_ for _ in ()).throw(RuntimeError("no WebSocket API")))

    def both(records: list[dict[str, Any]]) -> None:
        dispatcher(records)
        live.handler({"Records": records})

    poller = StreamPoller(settings().table_name, both)

    def run() -> None:
        while poller.poll_once():
            pass
        clock.advance(1)

    run()
    return run


def window(api: ApiClient, path: str = EVENTS, **kwargs: Any) -> list[dict[str, Any]]:
    response = api.get(path, **kwargs)
    assert response.status == 200, response
    assert response.headers["content-type"] == "text/event-stream"
    assert response.text.startswith(":connected")
    return parse(response.text)


def job_frames(frames: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [
        (f["event"], f["data"]["data"].get("new_status")) for f in frames if f["event"].startswith("job.")
    ]


def test_a_queue_stream_carries_created_status_changes_and_completed(
    api: ApiClient, drain: Callable[[], None]
) -> None:
    window(api, params={"queue": "emails"})  # opens the stream: from now on
    job_id = create_job(api, "emails")
    create_job(api, "other")
    drain()
    lease = claim_one(api, "emails")
    assert (
        api.post(f"{JOBS}/{job_id}/complete", {"worker_id": "worker-1", "lease_id": lease["lease_id"]}).status
        == 200
    )
    drain()

    frames = window(api, params={"queue": "emails"})
    assert job_frames(frames) == [
        ("job.created", None),
        ("job.status", "processing"),
        ("job.status", "completed"),
        ("job.completed", None),
    ]
    assert {f["data"]["data"]["job_id"] for f in frames[:-1]} == {job_id}
    assert frames[-1]["event"] == "system.health"
    assert len({f["id"] for f in frames}) == len(frames)
    # The SDK sends no Last-Event-ID: the next window resumes from where this one ended.
    assert job_frames(window(api, params={"queue": "emails"})) == []


def test_last_event_id_resumes_after_exactly_that_event(api: ApiClient, drain: Callable[[], None]) -> None:
    start = window(api)[-1]["id"]
    ids = [create_job(api, "emails") for _ in range(3)]
    drain()
    frames = window(api, headers={"Last-Event-ID": start})
    created = [f for f in frames if f["event"] == "job.created"]
    assert [f["data"]["data"]["job_id"] for f in created] == ids

    again = window(api, headers={"Last-Event-ID": created[0]["id"]})
    assert [f["data"]["data"]["job_id"] for f in again if f["event"] == "job.created"] == ids[1:]
    by_query = window(api, params={"last_event_id": created[1]["id"]})
    assert [f["data"]["data"]["job_id"] for f in by_query if f["event"] == "job.created"] == ids[2:]


def test_the_events_filter_and_the_token_parameter(
    api: ApiClient, org: Org, drain: Callable[[], None]
) -> None:
    start = window(api)[-1]["id"]
    create_job(api, "emails")
    drain()
    frames = window(
        api,
        params={"events": "job.status_changed,queue.stats", "token": org.api_key},
        api_key=None,
        headers={"Last-Event-ID": start},
    )
    assert {f["event"] for f in frames} <= {"job.status", "queue.stats", "system.health"}
    assert any(f["event"] == "queue.stats" for f in frames)


def test_a_job_stream_follows_one_job_and_ends_at_its_terminal_status(
    api: ApiClient, drain: Callable[[], None]
) -> None:
    job_id = create_job(api, "emails")
    drain()
    first = window(api, f"{EVENTS}/jobs/{job_id}")
    assert job_frames(first) == [("job.status", "pending")]
    assert first[-1]["event"] == "system.health"  # not finished: the client reconnects

    lease = claim_one(api, "emails")
    assert lease["id"] == job_id
    complete = {"worker_id": "worker-1", "lease_id": lease["lease_id"]}
    assert api.post(f"{JOBS}/{job_id}/complete", complete).status == 200
    drain()
    frames = window(api, f"{EVENTS}/jobs/{job_id}")
    assert job_frames(frames) == [("job.status", "processing"), ("job.status", "completed")]
    assert frames[-1]["event"] == "job.status"  # ended: no health event, the stream is over
    # A new stream for a job that already ended: its status, then the end.
    assert job_frames(window(api, f"{EVENTS}/jobs/{job_id}")) == [("job.status", "completed")]


def test_a_job_stream_for_a_job_that_does_not_exist_is_a_404(
    api: ApiClient, drain: Callable[[], None]
) -> None:
    response = api.get(f"{EVENTS}/jobs/job_missing")
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"


def test_a_queue_stats_stream(api: ApiClient, drain: Callable[[], None]) -> None:
    window(api, f"{EVENTS}/queues/emails")
    create_job(api, "emails")
    drain()
    drain()  # the counters trail the jobs by one batch
    stats = [f["data"]["data"] for f in window(api, f"{EVENTS}/queues/emails") if f["event"] == "queue.stats"]
    assert stats and stats[-1]["queue_name"] == "emails" and stats[-1]["pending"] == 1


def test_a_revoked_key_is_refused_not_streamed(api: ApiClient, drain: Callable[[], None]) -> None:
    created = api.post(f"{V1}/api-keys", {"name": "sse"}).json
    mine = ApiClient(created["key"])
    window(mine)
    assert api.delete(f"{V1}/api-keys/{created['id']}").status == 204
    response = mine.get(EVENTS)
    assert response.status == 401
    assert response.headers["content-type"] == "application/json"


def test_a_queue_scoped_key_cannot_stream_another_queue(api: ApiClient, drain: Callable[[], None]) -> None:
    created = api.post(f"{V1}/api-keys", {"name": "scoped", "queues": ["emails"]}).json
    scoped = ApiClient(created["key"])
    assert scoped.get(EVENTS, params={"queue": "other"}).status == 403
    start = window(scoped)[-1]["id"]
    create_job(api, "other")
    create_job(api, "emails")
    drain()
    frames = window(scoped, headers={"Last-Event-ID": start})
    assert {f["data"]["data"]["queue_name"] for f in frames if f["event"].startswith("job.")} == {"emails"}
