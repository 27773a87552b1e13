"""Drive the timers the way AWS does, on the tests' clock: stream → armed messages → dispatcher.

The dispatcher's timer queue is replaced by an in-memory queue with SQS's delay semantics on the
FixedClock, so a three-week delay (~2,000 hops of at most 900 s) runs in seconds. `run_until` moves
the clock from one visible
message to the next, delivering each to the real SQS handler (functions/dispatcher/timer_messages.py)
exactly as the event source mapping would; no sweep runs unless a test calls it, and no claim
promotes anything unless a test claims. `duplicate=True` delivers every stream batch and every
message twice, which is what at-least-once delivery allows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from local_stack.stream_poller import StreamPoller
from shared.plumbing.clock import FixedClock
from shared.plumbing.timer_queue import InMemorySender, TimerMessage, TimerQueue, decode
from tests.conftest import SHARED_MOCK


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def ms(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": str(uuid.uuid4()),
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:spooled-dispatch",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


STREAM_PAGE = 1000  # GetRecords' Limit in local_stack/stream_poller.py


class _StreamReader(StreamPoller):
    """The local stack's stream poller, listing shards once (moto keeps one shard per table) and
    reading on with the iterator each read returns: describing the table and the stream, and
    re-anchoring the iterator, on every poll would dominate a long run of timer hops. Re-anchoring
    is only needed after moto cancels a transaction (see StreamPoller._iterator_for); nothing in
    the timer tests writes with a transaction (no idempotency keys)."""

    def _refresh_shards(self) -> None:
        if not self._iterators:
            super()._refresh_shards()

    def _iterator_for(self, shard_id: str) -> str | None:
        return self._iterators[shard_id]


def _until_through(handle: Any, batch: list[dict[str, Any]]) -> None:
    """What the event source mapping does with a partial batch response: deliver again from the
    reported record until the whole batch got through."""
    for _ in range(100):
        answer = handle(batch) or {}
        failures = answer.get("batchItemFailures") or []
        if not failures:
            return
        restart = failures[0]["itemIdentifier"]
        batch = batch[[r["dynamodb"]["SequenceNumber"] for r in batch].index(restart) :]
    raise AssertionError("a stream batch never got through")


@dataclass
class Timers:
    clock: FixedClock
    sender: InMemorySender
    queue: TimerQueue
    stream: StreamPoller
    duplicate: bool = False
    delivered: list[TimerMessage] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    _batches: list[list[dict[str, Any]]] = field(default_factory=list)
    # DynamoDB writes so far (the in-process moto counts them), or None when it cannot tell.
    writes: Callable[[], int | None] = lambda: None
    _polled_after: int | None = None  # `writes` when the stream was last read to its end

    def _drain(self) -> int:
        """Feed new stream records to the dispatcher (twice each when duplicating)."""
        batches: list[list[dict[str, Any]]] = []
        # The stream only has news after a DynamoDB write; most timer hops write nothing (a far
        # timer re-arms itself in memory), and reading the stream was half of a long run's calls.
        writes = self.writes()
        if writes is None or writes != self._polled_after:
            while self.stream.poll_once() >= STREAM_PAGE:  # a short page is the end of the stream
                pass
            self._polled_after = writes
        from functions.dispatcher.handler import handle_stream

        for batch in self._batches:
            _until_through(handle_stream, batch)
            if self.duplicate:  # an event source mapping retrying the batch
                _until_through(handle_stream, batch)
            batches.append(batch)
        self._batches.clear()
        return sum(len(batch) for batch in batches)

    def deliver(self, bodies: list[str]) -> dict[str, Any]:
        from functions.dispatcher import handler, timer_messages

        self.delivered.extend(decode(b) for b in bodies)
        # Duplicating: each message twice in the batch (SQS delivering a message again), and then
        # the whole event once more (Lambda retrying the invocation).
        event = sqs_event(bodies + bodies if self.duplicate else bodies)
        result = timer_messages.handle(event, None, handler.store(), self.queue, sleep=self.clock.advance)
        if self.duplicate:
            timer_messages.handle(event, None, handler.store(), self.queue, sleep=self.clock.advance)
        self.failures.extend(result.get("batchItemFailures", []))
        return result

    def settle(self) -> None:
        """Deliver whatever is due now, until nothing more is (acting may arm more timers)."""
        for _ in range(1000):
            self._drain()
            visible = self.sender.receive()
            if not visible:
                return
            for start in range(0, len(visible), 10):
                self.deliver(visible[start : start + 10])
        raise AssertionError("timers never settled")

    def run_until(self, until_ms: int) -> None:
        """Advance the clock to until_ms, firing every message that becomes visible on the way."""
        self.settle()
        while True:
            upcoming = self.sender.next_visible_ms()
            if upcoming is None or upcoming > until_ms:
                break
            if upcoming > self.clock.now_ms():
                self.clock.advance((upcoming - self.clock.now_ms()) / 1000)
            self.settle()
        if until_ms > self.clock.now_ms():
            self.clock.advance((until_ms - self.clock.now_ms()) / 1000)
        self.settle()

    def run_for(self, seconds: float) -> None:
        self.run_until(self.clock.now_ms() + int(seconds * 1000))


def install(monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> Timers:
    """Needs the `aws` and `api` fixtures (tables, and the clock installed in the handlers)."""
    from functions.dispatcher import handler
    from shared.plumbing.config import settings

    sender = InMemorySender(clock)
    queue = TimerQueue(sender, clock)
    monkeypatch.setattr(handler, "timer_queue", lambda: queue)
    batches: list[list[dict[str, Any]]] = []
    timers = Timers(clock, sender, queue, _StreamReader(settings().table_name, batches.append))
    timers.writes = SHARED_MOCK.dynamodb_writes
    timers._batches = batches
    return timers


def job(api: Any, job_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/jobs/{job_id}")
    assert response.status == 200, response
    return dict(response.json)


def create(api: Any, **body: Any) -> str:
    response = api.post("/api/v1/jobs", {"payload": {"n": 1}, **body})
    assert response.status == 201, response
    return str(response.json["id"])


def claim(
    api: Any, queue: str, worker: str = "worker-1", lease: int = 30, limit: int = 1
) -> list[dict[str, Any]]:
    response = api.post(
        "/api/v1/jobs/claim",
        {"queue_name": queue, "worker_id": worker, "lease_duration_secs": lease, "limit": limit},
    )
    assert response.status == 200, response
    return list(response.json["jobs"])


def history_types(api: Any, job_id: str) -> list[str]:
    response = api.get(f"/api/v1/jobs/{job_id}/history")
    assert response.status == 200, response
    return [row["event_type"] for row in response.json]


def last_event_ms(api: Any, job_id: str, event_type: str) -> int:
    """When the job's history last recorded `event_type` (the transition's own timestamp)."""
    response = api.get(f"/api/v1/jobs/{job_id}/history", params={"order_dir": "desc"})
    assert response.status == 200, response
    return next(ms(row["created_at"]) for row in response.json if row["event_type"] == event_type)
