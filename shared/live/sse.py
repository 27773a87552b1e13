"""Server-sent events (contract §2.11) served in windows from the event log (docs/sse.md).

The API Lambda's response is buffered by API Gateway, so one request is one window: it holds until
events match (or HOLD_SECONDS pass), answers them followed by a `system.health` event, and ends. The
client reconnects and resumes: from `Last-Event-ID` (or `?last_event_id=`) when it sends one, else
from the position saved for its credential and stream at the end of its previous window (the SDK
1.6.0 SSE client sends no Last-Event-ID). A job stream ends for good after a terminal status.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.identity.credentials import AuthContext
from shared.live.connections import Connection, Subscription, _checked_queue, frame_matches, parse_events
from shared.live.event_log import EventLog, Position
from shared.live.events import Frame
from shared.plumbing.clock import to_rfc3339

HOLD_SECONDS = float(os.environ.get("SPOOLED_SSE_HOLD_SECONDS", "1"))
POLL_SECONDS = float(os.environ.get("SPOOLED_SSE_POLL_SECONDS", "0.25"))
TERMINAL = frozenset({"completed", "failed", "deadletter", "cancelled"})
_NOT_PART_OF_THE_STREAM = ("token", "api_key", "last_event_id")


@dataclass
class Window:
    events: list[tuple[str, Frame]] = field(default_factory=list)
    position: Position | None = None
    finished: bool = False  # a job stream that reached a terminal status


def stream_filter(ctx: AuthContext, path_kind: str, query: Mapping[str, str], target: str = "") -> Connection:
    """What a request asked for, as a connection matcher: `/events` (?queue=, ?events=), `jobs` (the
    job's job.status), `queues` (the queue's queue.stats)."""
    if path_kind == "jobs":
        events, subs = frozenset({"job.status"}), (Subscription(job_id=target),)
    elif path_kind == "queues":
        queue = _checked_queue(target, ctx.queues, "name")
        events, subs = frozenset({"queue.stats"}), (Subscription(queue=queue),)
    else:
        queue = _checked_queue(query.get("queue"), ctx.queues, "queue")
        events, subs = parse_events(query.get("events")), ((Subscription(queue=queue),) if queue else ())
    return Connection("", ctx.org_id, ctx.api_key_id, ctx.queues, 0, events, subs)


def stream_key(path: str, query: Mapping[str, str]) -> str:
    kept = sorted((k, v) for k, v in query.items() if k not in _NOT_PART_OF_THE_STREAM)
    return path + ("?" + "&".join(f"{k}={v}" for k, v in kept) if kept else "")


def serve_window(
    log: EventLog,
    want: Connection,
    start: Position,
    *,
    job_stream: bool = False,
    hold_seconds: float | None = None,
    poll_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Window:
    """Poll the log from `start` until something matches or the hold is over."""
    hold = HOLD_SECONDS if hold_seconds is None else hold_seconds
    poll = POLL_SECONDS if poll_seconds is None else poll_seconds
    window = Window(position=start)
    deadline = time.monotonic() + hold
    position = start
    while True:
        found, position = log.read(want.org_id, position, log.horizon())
        for event_id, frame in found:
            if not frame_matches(frame, want):
                continue
            window.events.append((event_id, frame))
            if job_stream and frame.data.get("new_status") in TERMINAL:
                window.finished = True
                window.position = Position.parse(event_id)
                return window
        window.position = position
        if window.events or time.monotonic() >= deadline:
            return window
        sleep(poll)


def job_snapshot(job: Mapping[str, Any], now_ms: int) -> Frame:
    """The job's status when a job stream starts, so a client sees where it stands."""
    data = {
        "job_id": job["id"],
        "queue_name": job["queue_name"],
        "old_status": None,
        "new_status": job["status"],
        "timestamp": to_rfc3339(now_ms),
    }
    return Frame("JobStatusChange", "job.status", data, "", job["queue_name"], job["id"])


def health_frame(now_ms: int) -> Frame:
    return Frame(
        "SystemHealth",
        "system.health",
        {"database": "healthy", "redis": "n/a", "timestamp": to_rfc3339(now_ms)},
    )


def render(events: list[tuple[str, Frame]], trailer: tuple[str, Frame] | None) -> str:
    """`:connected`, a retry hint, the events with their ids, then the health event."""
    parts = [":connected\n\nretry: 1000\n\n"]
    for event_id, frame in [*events, *([trailer] if trailer else [])]:
        parts.append(f"id: {event_id}\nevent: {frame.event}\ndata: {frame.to_json()}\n\n")
    return "".join(parts)


def resume_from(
    log: EventLog, credential: str, stream: str, last_event_id: str | None
) -> tuple[Position, bool]:
    """(where to start, whether the stream is fresh: no id and no saved position)."""
    explicit = Position.parse(last_event_id)
    if explicit is not None:
        return explicit, False
    saved = log.saved_position(credential, stream)
    if saved is not None:
        return saved, False
    return Position.at(log.horizon()), True
