"""When a schedule fires: pure functions of a cron expression, a fire time and "now" (passed in).

The grammar and the time-zone rules live in shared/schedules/cron.py; this module turns them into the
millisecond times the store keeps, and holds the two policies of §3.9:
- next run: the first fire strictly after now (create, resume, a new cron) or after the fire;
- catch-up: a fire acted on late (downtime, a lost message) is the only one made up for; the
  schedule then jumps to the first occurrence after now, skipping every fire missed in between.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from shared.plumbing.errors import ValidationFailed
from shared.schedules import cron

# A fire message that arrives this early is held until due; one earlier still is sent again with
# a delay (an EventBridge wake-up lands ~10 minutes before its fire on purpose).
MAX_EARLY_WAIT_MS = 1000


def invalid_field(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        details=[{"field": field, "message": message, "code": f"invalid_{field}"}],
        error="Validation failed",
    )


def compile_cron(expression: str, timezone: str) -> cron.CronSchedule:
    """The schedule of a user's expression and zone, or a 400 naming the field that is wrong."""
    try:
        cron.parse_zone(timezone)
    except cron.CronError as error:
        raise invalid_field("timezone", str(error)) from None
    try:
        return cron.parse(expression, timezone)
    except cron.CronError as error:
        raise invalid_field("cron_expression", str(error)) from None


def next_fire_ms(schedule: cron.CronSchedule, after_ms: int) -> int | None:
    """The first fire strictly after after_ms; None when there is none left (year 9999)."""
    after = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
    try:
        fire = schedule.next_after(after)
    except cron.CronError:
        return None
    return int(fire.timestamp() * 1000)


def next_after_fire(schedule: cron.CronSchedule, fire_ms: int, now_ms: int) -> int | None:
    """Catch-up: after a fire acted on at now_ms, the next fire is the first one after both."""
    return next_fire_ms(schedule, max(fire_ms, now_ms))


class Timing(StrEnum):
    DUE = "due"  # act now
    HOLD = "hold"  # due within MAX_EARLY_WAIT_MS: wait that long, then act
    TOO_EARLY = "too_early"  # send the message again, delayed toward the fire


def timing(fire_ms: int, now_ms: int) -> Timing:
    early_ms = fire_ms - now_ms
    if early_ms <= 0:
        return Timing.DUE
    return Timing.HOLD if early_ms <= MAX_EARLY_WAIT_MS else Timing.TOO_EARLY
