"""One stream batch → frames posted to every connection that wants them.

The table's stream is the only source: every state change is a conditional write on one item, so
nothing on the write path has to remember to notify. For a batch: frames from the change events
(and QueueStats from the counter items), grouped by organization; one consistent Query lists an
organization's connections, and an organization with no frames is never queried. Each connection
gets its frames in stream order. A connection API Gateway reports gone is deleted; one whose key was
revoked or re-scoped, or whose time is up, is closed and deleted.

Best effort by design: a failed post is logged and the batch still succeeds. Retrying the batch
would re-send every frame to every other connection, and a client that missed a frame can read
the job over REST.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from shared.live.connections import Connection, LiveConnections, credential_changes
from shared.live.event_log import EventLog
from shared.live.events import MAX_FRAME_BYTES, Frame, frames_for, queue_stats_frames
from shared.plumbing import aws_clients
from shared.plumbing.aws_clients import error_code
from shared.plumbing.change_events import events_from_records
from shared.plumbing.clock import Clock

logger = logging.getLogger("spooled.live")

# Posts run in parallel across connections (each connection's own frames stay in order): a post
# is one HTTPS call of ~10-30 ms, and a batch can owe hundreds of them.
MAX_PARALLEL_POSTS = 16


class Poster(Protocol):
    """The API Gateway management API, or a fake in tests."""

    def post(self, connection_id: str, message: str) -> bool:
        """Send one text message; False when the connection is gone."""
        ...

    def close(self, connection_id: str) -> None: ...


class ManagementApiPoster:
    def __init__(self, endpoint_url: str) -> None:
        if not endpoint_url:
            raise RuntimeError("SPOOLED_WS_CALLBACK_URL is not set: live updates cannot reach clients")
        self.endpoint_url = endpoint_url

    @property
    def _api(self) -> Any:
        return aws_clients.client("apigatewaymanagementapi", endpoint_url=self.endpoint_url)

    def post(self, connection_id: str, message: str) -> bool:
        try:
            self._api.post_to_connection(ConnectionId=connection_id, Data=message.encode("utf-8"))
        except Exception as error:
            if error_code(error) == "GoneException":
                return False
            raise
        return True

    def close(self, connection_id: str) -> None:
        try:
            self._api.delete_connection(ConnectionId=connection_id)
        except Exception as error:
            if error_code(error) != "GoneException":
                raise


@dataclass
class FanoutResult:
    frames: int = 0
    posted: int = 0
    gone: int = 0  # connections found gone and deleted
    closed: int = 0  # connections closed for a revoked key or an ended lifetime
    failed: int = 0
    logged: int = 0  # event-log entries written for server-sent events


def frames_from_records(records: list[dict[str, Any]]) -> list[Frame]:
    return frames_for(events_from_records(records)) + queue_stats_frames(records)


def _by_org(frames: Iterable[Frame]) -> dict[str, list[Frame]]:
    grouped: dict[str, list[Frame]] = {}
    for frame in frames:
        if frame.org_id:
            grouped.setdefault(frame.org_id, []).append(frame)
    return grouped


def log_frames(log: EventLog, grouped: dict[str, list[Frame]]) -> int:
    """Server-sent events read the batch from the per-organization event log: one write per
    organization with frames. Best effort like the posts: a failed write is logged."""
    writes = 0
    for org_id, org_frames in grouped.items():
        try:
            writes += log.append(org_id, org_frames)
        except Exception:
            logger.exception("appending to the event log of %s failed", org_id)
    return writes


def log_batch(log: EventLog, records: list[dict[str, Any]]) -> int:
    return log_frames(log, _by_org(f for f in frames_from_records(records) if _fits(f)))


def _fits(frame: Frame) -> bool:
    return len(frame.to_json().encode("utf-8")) <= MAX_FRAME_BYTES


class LiveFanout:
    def __init__(
        self, registry: LiveConnections, poster: Poster, clock: Clock, event_log: EventLog | None = None
    ) -> None:
        self.registry = registry
        self.poster = poster
        self.clock = clock
        self.event_log = event_log

    def deliver(self, records: list[dict[str, Any]]) -> FanoutResult:
        frames = [f for f in frames_from_records(records) if _fits(f)]
        revoked = credential_changes(records)
        grouped = _by_org(frames)
        result = FanoutResult(frames=len(frames))
        if self.event_log is not None:
            result.logged = log_frames(self.event_log, grouped)
        now_ms = self.clock.now_ms()
        work: list[tuple[Connection, list[str]]] = []
        for org_id in dict.fromkeys([*grouped, *revoked]):
            org_frames = grouped.get(org_id, [])
            try:
                connections = self.registry.for_org(org_id)
            except Exception:
                logger.exception("listing the live connections of %s failed; its frames are dropped", org_id)
                continue
            for connection in connections:
                if connection.credentials & revoked.get(org_id, set()) or connection.valid_until_ms <= now_ms:
                    self._close(connection, result)
                    continue
                messages = [frame.to_json() for frame in org_frames if connection.wants(frame)]
                if messages:
                    work.append((connection, messages))
        if len(work) == 1:
            outcomes = [self._post_all(*work[0])]
        elif work:
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_POSTS, len(work))) as pool:
                outcomes = list(pool.map(lambda job: self._post_all(*job), work))
        else:
            outcomes = []
        for posted, outcome in outcomes:
            result.posted += posted
            result.gone += outcome == "gone"
            result.failed += outcome == "failed"
        return result

    def _post_all(self, connection: Connection, messages: list[str]) -> tuple[int, str]:
        """Posts in order; (how many were posted, "ok" | "gone" | "failed")."""
        for posted, message in enumerate(messages):
            try:
                delivered = self.poster.post(connection.connection_id, message)
            except Exception:
                logger.exception("posting to live connection %s failed", connection.connection_id)
                return posted, "failed"  # the rest would only arrive out of order
            if not delivered:
                self.registry.remove(connection.org_id, connection.connection_id)
                return posted, "gone"
        return len(messages), "ok"

    def _close(self, connection: Connection, result: FanoutResult) -> None:
        try:
            self.poster.close(connection.connection_id)
        except Exception:
            logger.exception("closing live connection %s failed", connection.connection_id)
        self.registry.remove(connection.org_id, connection.connection_id)
        result.closed += 1
