"""Drive cron schedules the way AWS does, on the tests' clock.

stream → dispatcher (arms each schedule's next fire) → the schedule-fire queue, replaced by an
in-memory queue with SQS's delay semantics on the FixedClock, or an EventBridge one-time schedule
in moto, fired by the local stack's stand-in when the clock passes its at() → the real scheduler
handler (functions/scheduler/handler.py) as an SQS event. `run_until` moves the clock from one due
message to the next, so an hour of a minutely schedule runs in well under a second of moto calls.
`duplicate=True` delivers every fire message twice (at-least-once delivery).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.plumbing.clock import FixedClock
from shared.plumbing.timer_queue import InMemorySender
from tests.functional.timers_harness import ms as ms  # re-exported for the schedule tests
from tests.functional.timers_harness import sqs_event as sqs_event

V1 = "/api/v1"
SCHEDULES = f"{V1}/schedules"


def schedule_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "nightly report",
        "cron_expression": "0 */5 * * * *",
        "queue_name": "reports",
        "payload_template": {"report": "sales"},
        **fields,
    }


@dataclass
class Harness:
    api: Any
    clock: FixedClock
    sender: InMemorySender
    drain_stream: Callable[[], int]
    duplicate: bool = False
    delivered: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    # --- the API -------------------------------------------------------------------------

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.api.post(SCHEDULES, schedule_body(**fields))
        assert response.status == 201, response
        return response.json

    def get(self, schedule_id: str) -> dict[str, Any]:
        response = self.api.get(f"{SCHEDULES}/{schedule_id}")
        assert response.status == 200, response
        return response.json

    def history(self, schedule_id: str, limit: int = 100) -> list[dict[str, Any]]:
        response = self.api.get(f"{SCHEDULES}/{schedule_id}/history", params={"limit": limit})
        assert response.status == 200, response
        return response.json

    def jobs(self, queue: str = "reports") -> list[dict[str, Any]]:
        response = self.api.get(f"{V1}/jobs", params={"queue_name": queue, "limit": 100})
        assert response.status == 200, response
        return response.json

    # --- the machinery -------------------------------------------------------------------

    def deliver(self, bodies: list[str]) -> None:
        from functions.scheduler.handler import handler

        if not bodies:
            return
        rounds = 2 if self.duplicate else 1
        for _ in range(rounds):
            result = handler(sqs_event(bodies), None)
            self.failures.extend(result.get("batchItemFailures", []))
        self.delivered.extend(bodies)

    def eventbridge(self) -> int:
        from local_stack.scheduler_loop import EventBridgeStandIn
        from shared.plumbing.config import settings

        stand_in = EventBridgeStandIn(settings().schedule_group, lambda _arn, body: self._enqueue(body))
        return stand_in.fire_due(self.clock.now_ms())

    def _enqueue(self, body: str) -> None:
        from shared.plumbing.timer_queue import OutgoingMessage

        self.sender.send([OutgoingMessage(body, 0)])

    def step(self) -> int:
        """Stream, EventBridge, then every visible message; returns how many messages were delivered."""
        self.drain_stream()
        self.eventbridge()
        bodies = self.sender.receive()
        self.deliver(bodies)
        self.drain_stream()
        return len(bodies)

    def next_moment_ms(self) -> int | None:
        candidates = [self.sender.next_visible_ms(), self._next_wake_ms()]
        return min((c for c in candidates if c is not None), default=None)

    def _next_wake_ms(self) -> int | None:
        from local_stack.scheduler_loop import at_time_ms
        from shared.plumbing import aws_clients
        from shared.plumbing.config import settings

        scheduler = aws_clients.client("scheduler")
        group = settings().schedule_group
        times = []
        pages = scheduler.get_paginator("list_schedules").paginate(GroupName=group)
        for summary in (summary for page in pages for summary in page.get("Schedules", [])):
            found = scheduler.get_schedule(GroupName=group, Name=summary["Name"])
            moment = at_time_ms(found["ScheduleExpression"])
            if moment is not None:
                times.append(moment)
        return min(times, default=None)

    def run_until(self, until_ms: int, max_steps: int = 10_000) -> None:
        """Deliver everything due up to until_ms, moving the clock to each due moment in turn."""
        for _ in range(max_steps):
            self.step()
            moment = self.next_moment_ms()
            if moment is None or moment > until_ms:
                break
            if moment > self.clock.now_ms():
                self.clock._now_ms = moment
        else:
            raise AssertionError("run_until did not settle")
        if self.clock.now_ms() < until_ms:
            self.clock._now_ms = until_ms
            self.step()

    def run_for(self, seconds: float) -> None:
        self.run_until(self.clock.now_ms() + int(seconds * 1000))

    def to_next_midnight(self) -> int:
        """Move the clock to the next 00:00 UTC (nothing is armed yet); returns it."""
        midnight = (self.clock.now_ms() // 86_400_000 + 1) * 86_400_000
        self.clock._now_ms = midnight
        return midnight


def install(
    api: Any, clock: FixedClock, drain_stream: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> Harness:
    """Needs the `api` fixture (tables, and the clock installed in the handlers)."""
    from shared.schedules import arming as schedule_arming

    sender = InMemorySender(clock)
    monkeypatch.setattr(schedule_arming, "fire_queue", lambda: sender)
    # A message due within the second is held until due: on the FixedClock that is a jump.
    from functions.scheduler import handler as scheduler

    scheduler.firer().sleep = lambda seconds: clock.advance(seconds)
    # Start on a whole minute so that cron arithmetic in the tests reads plainly.
    clock._now_ms = (clock.now_ms() // 60_000 + 1) * 60_000
    return Harness(api=api, clock=clock, sender=sender, drain_stream=drain_stream)


def iso_at(ms_value: int) -> str:
    return datetime.fromtimestamp(ms_value / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
