"""How the next fire of a schedule gets delivered, decided from the table's stream.

Every write that gives a schedule another next fire (create, a fire moving on, a PUT of the cron,
resume) or takes it away (pause, delete) shows up as a stream record. The dispatcher collects them
(`schedules_to_arm`) and arms each one (`arm`):

- fire within 900 s: one SQS message {org_id, schedule_id, fire_ms} on the schedule-fire queue,
  delayed as the job timers are (shared/timer_queue.delay_seconds): SQS delays are whole seconds,
  so the message arrives within [-0.75 s, +0.25 s] of the fire and the scheduler function holds
  an early one until the fire's millisecond. (Rounding the delay up instead made fires up to a
  second late, and the lateness of a chain of fires wandered over that whole second.)
- further: one EventBridge Scheduler one-time schedule per schedule, named after it, `at()` about
  ten minutes before the fire, sending the same message to the same queue. The scheduler function
  finds it early and sends it again with the remaining delay (re-chaining), so EventBridge's
  minute precision costs nothing and an early or stale wake-up is harmless;
- no next fire (paused, deleted): the EventBridge schedule is deleted (a near message in flight is
  dropped as stale when it arrives). Should that delete fail, nothing leaks: the schedule deletes
  itself after its one remaining wake-up (ActionAfterCompletion DELETE), whose message is stale.

Nothing here is on the request path, and nothing is lost if arming fails: the minute sweep fires
any schedule more than 90 s overdue (functions/dispatcher/sweep.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.aws_clients import error_code
from shared.plumbing.config import settings
from shared.plumbing.timer_queue import MessageSender, OutgoingMessage, SqsSender, delay_seconds
from shared.schedules import expressions as sx

MAX_SQS_DELAY_SECONDS = 900
# An EventBridge one-time schedule wakes this long before the fire: its at() has minute precision
# and EventBridge may be a little late; the rest of the way is an exact SQS delay.
EVENTBRIDGE_LEAD_MS = 600_000
SCHEDULE_NAME_PREFIX = "cron-"


@dataclass(frozen=True)
class FireMessage:
    org_id: str
    schedule_id: str
    fire_ms: int

    def to_json(self) -> str:
        return json.dumps(
            {"org_id": self.org_id, "schedule_id": self.schedule_id, "fire_ms": self.fire_ms},
            separators=(",", ":"),
        )

    @staticmethod
    def from_json(text: str) -> FireMessage:
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("not a schedule fire message")
        return FireMessage(str(document["org_id"]), str(document["schedule_id"]), int(document["fire_ms"]))


@dataclass(frozen=True)
class ScheduleTimer:
    """What one schedule needs armed: its next fire, or None for nothing (paused or deleted)."""

    org_id: str
    schedule_id: str
    fire_ms: int | None

    @property
    def message(self) -> FireMessage:
        assert self.fire_ms is not None
        return FireMessage(self.org_id, self.schedule_id, self.fire_ms)


# --- the decision (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class SendDelayed:
    delay_seconds: int


@dataclass(frozen=True)
class WakeAt:
    expression: str  # at(yyyy-mm-ddThh:mm:ss), UTC


@dataclass(frozen=True)
class Disarm:
    pass


Delivery = SendDelayed | WakeAt | Disarm


def delivery(timer: ScheduleTimer, now_ms: int) -> Delivery:
    if timer.fire_ms is None:
        return Disarm()
    if timer.fire_ms - now_ms <= MAX_SQS_DELAY_SECONDS * 1000:
        return SendDelayed(delay_seconds(timer.fire_ms, now_ms))
    wake = datetime.fromtimestamp((timer.fire_ms - EVENTBRIDGE_LEAD_MS) // 1000, tz=UTC)
    return WakeAt(f"at({wake.strftime('%Y-%m-%dT%H:%M:%S')})")


def _schedule_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if not image or image.get("sk", {}).get("S") != sx.SCHEDULE_SK:
        return None
    if not image.get("pk", {}).get("S", "").startswith("SCHEDULE#"):
        return None
    return dynamo_codec.decode_item(image)


def _armed_fire(item: dict[str, Any] | None) -> int | None:
    if item is None or not item.get("is_active"):
        return None
    fire = item.get("next_run_ms")
    return int(fire) if fire is not None else None


def schedules_to_arm(records: Iterable[dict[str, Any]]) -> list[ScheduleTimer]:
    """The schedules whose armed fire a batch of stream records changed, one timer each (the
    latest record of a schedule wins: its earlier fires in the batch are already stale)."""
    timers: dict[tuple[str, str], ScheduleTimer] = {}
    for record in records:
        change = record.get("dynamodb", {})
        old = _schedule_image(change.get("OldImage"))
        new = _schedule_image(change.get("NewImage"))
        image = new or old
        if image is None:
            continue
        before, after = _armed_fire(old), _armed_fire(new)
        if new is not None and before == after:
            continue  # a rename, a manual trigger...: the armed fire stands
        key = (image["org_id"], image["id"])
        timers[key] = ScheduleTimer(image["org_id"], image["id"], after)
    return list(timers.values())


# --- carrying it out -----------------------------------------------------------------------


def eventbridge_name(schedule_id: str) -> str:
    return f"{SCHEDULE_NAME_PREFIX}{schedule_id}"


@lru_cache(maxsize=1)
def fire_queue() -> MessageSender:
    """The schedule-fire queue (tests put an in-memory queue on their clock in its place)."""
    return SqsSender(settings().schedule_queue_url)


def arm(timer: ScheduleTimer, now_ms: int) -> Delivery:
    """Arm one schedule's next fire (or disarm it); returns what was done."""
    decided = delivery(timer, now_ms)
    if isinstance(decided, SendDelayed):
        fire_queue().send([OutgoingMessage(timer.message.to_json(), decided.delay_seconds)])
    elif isinstance(decided, WakeAt):
        _upsert_wake(timer, decided.expression)
    else:
        _delete_wake(timer.schedule_id)
    return decided


def rechain(timer: ScheduleTimer, now_ms: int) -> None:
    """Send a fire that arrived too early again, delayed toward it (at most SQS's 900 s a hop),
    so the scheduler function itself never needs EventBridge."""
    message = timer.message
    fire_queue().send([OutgoingMessage(message.to_json(), delay_seconds(message.fire_ms, now_ms))])


def arm_all(timers: Iterable[ScheduleTimer], now_ms: int) -> int:
    """Arm each; one failure does not stop the others. Raises at the end if any failed."""
    failed: list[str] = []
    armed = 0
    for timer in timers:
        try:
            arm(timer, now_ms)
            armed += 1
        except Exception as error:
            failed.append(f"{timer.schedule_id}: {error}")
    if failed:
        raise RuntimeError(f"arming {len(failed)} schedule(s) failed: {'; '.join(failed[:5])}")
    return armed


def _upsert_wake(timer: ScheduleTimer, expression: str) -> None:
    config = settings()
    scheduler = aws_clients.client("scheduler")
    spec: dict[str, Any] = {
        "Name": eventbridge_name(timer.schedule_id),
        "GroupName": config.schedule_group,
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": config.schedule_queue_arn,
            "RoleArn": config.schedule_role_arn,
            "Input": timer.message.to_json(),
        },
        # A one-time schedule deletes itself once it has fired, so one whose disarm failed (a
        # paused or deleted schedule) fires once more, is dropped as stale, and leaves nothing
        # behind; an arm after that finds it gone and creates it again (below).
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",
    }
    # One EventBridge schedule per schedule, updated on every far fire: most arms are updates.
    try:
        scheduler.update_schedule(**spec)
        return
    except Exception as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
    try:
        scheduler.create_schedule(**spec)
    except Exception as error:
        if error_code(error) != "ConflictException":
            raise
        scheduler.update_schedule(**spec)  # created by a concurrent arm in between


def _delete_wake(schedule_id: str) -> None:
    try:
        aws_clients.client("scheduler").delete_schedule(
            Name=eventbridge_name(schedule_id), GroupName=settings().schedule_group
        )
    except Exception as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
