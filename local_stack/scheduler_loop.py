"""Cron schedules in `make dev`: what EventBridge Scheduler and the scheduler's SQS event source
mapping do on AWS.

moto stores EventBridge Scheduler schedules but never fires them, so two loops stand in:
- the EventBridge stand-in lists the schedule group about once a second and, for each one-time
  `at()` schedule whose time has passed, sends its Input to its target queue (as EventBridge
  would) and deletes it;
- the fire-queue loop polls the schedule-fire queue and hands the messages to the scheduler
  handler (functions/scheduler/handler.py) as an SQS event, with partial batch failures, using
  the dispatch loops' QueuePoller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local_stack.dispatch_loop import QueuePoller
from local_stack.wakeups import SAFETY_SECONDS, Wakeups
from shared.plumbing import aws_clients
from shared.plumbing.aws_clients import error_code

logger = logging.getLogger("spooled.local")

Deliver = Callable[[str, str], None]  # (target ARN, input text)


def at_time_ms(expression: str) -> int | None:
    """The moment of an `at(yyyy-mm-ddThh:mm:ss)` expression in UTC; None for rate()/cron()."""
    if not (expression.startswith("at(") and expression.endswith(")")):
        return None
    moment = datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def send_to_queue(target_arn: str, body: str) -> None:
    """An SQS target, as EventBridge Scheduler delivers to it."""
    sqs = aws_clients.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=target_arn.rsplit(":", 1)[1])["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=body)


class EventBridgeStandIn:
    """Fires the due one-time schedules of one group."""

    def __init__(self, group: str, deliver: Deliver = send_to_queue) -> None:
        self.group = group
        self.deliver = deliver
        self.next_due_ms: int | None = None  # the earliest enabled at() not yet due, seen last pass

    @property
    def _scheduler(self) -> Any:
        return aws_clients.client("scheduler")

    def _names(self) -> list[str]:
        # Every page (moto, like EventBridge, lists 50 at a time), read before any is deleted so
        # the deletions cannot upset the paging.
        pages = self._scheduler.get_paginator("list_schedules").paginate(GroupName=self.group)
        return [summary["Name"] for page in pages for summary in page.get("Schedules", [])]

    def fire_due(self, now_ms: int) -> int:
        fired = 0
        self.next_due_ms = None
        for name in self._names():
            try:
                schedule = self._scheduler.get_schedule(GroupName=self.group, Name=name)
            except Exception as error:
                if error_code(error) == "ResourceNotFoundException":
                    continue  # deleted since the listing
                raise
            due_ms = at_time_ms(schedule.get("ScheduleExpression", ""))
            if due_ms is None or schedule.get("State") == "DISABLED":
                continue
            if due_ms > now_ms:
                self.next_due_ms = due_ms if self.next_due_ms is None else min(self.next_due_ms, due_ms)
                continue
            target = schedule["Target"]
            self.deliver(target["Arn"], target.get("Input", ""))
            try:
                self._scheduler.delete_schedule(GroupName=self.group, Name=name)
            except Exception as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise
            fired += 1
        return fired


class SchedulerLoops:
    def __init__(
        self,
        stop: threading.Event,
        wake_interval: float = 1.0,
        poll_interval: float = 0.1,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.stop = stop
        self.wakeups = wakeups
        self.wake_interval = wake_interval  # EventBridge's own precision is a minute
        self.poll_interval = poll_interval  # added to a fire's lateness at most

    def run_eventbridge(self) -> None:
        from shared.plumbing.clock import SystemClock
        from shared.plumbing.config import settings

        stand_in = EventBridgeStandIn(settings().schedule_group)
        clock = SystemClock()
        while not self.stop.wait(self.wake_interval if self.wakeups is None else 0):
            try:
                stand_in.fire_due(clock.now_ms())
            except Exception:  # tried again next tick
                logger.exception("EventBridge Scheduler stand-in failed")
                stand_in.next_due_ms = clock.now_ms() + int(self.wake_interval * 1000)
            if self.wakeups is not None:
                # Asleep until a schedule changes or the earliest one seen comes due.
                due = stand_in.next_due_ms
                wait = SAFETY_SECONDS if due is None else (due - clock.now_ms()) / 1000
                self.wakeups.schedules.wait(min(SAFETY_SECONDS, max(0.01, wait)))

    def run_fires(self) -> None:
        from functions.scheduler.handler import handler
        from shared.plumbing.config import settings

        QueuePoller(settings().schedule_queue_url, handler).run_until(
            self.stop, self.poll_interval, "schedule-fire queue", self.wakeups
        )
