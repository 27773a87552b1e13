"""Cron schedules: grammar, validation and the next fire time. Pure: no clock reads, no I/O.

Grammar (contract §3.9): six fields `sec min hour day-of-month month day-of-week`, or five (seconds
are then 0). Per field `*`, a number, `a-b`, a list of numbers and ranges `a,b-c`, or `*/n` (steps
count from the field's minimum, n from 1 to the field's maximum). Names (MON, JAN), `?`, `L`, `W`,
`#`, `a-b/n` and `n/m` are rejected. Day-of-week is 0-7 with both 0 and 7 meaning Sunday. When
day-of-month and day-of-week are both restricted a day matches when EITHER does (Vixie cron); a
field counts as restricted when it leaves out some value (`*`, `*/1` and `0-7` restrict nothing).
An expression that can never fire (`0 0 0 31 2 *`) is rejected, so a schedule always has a next run.

Time zone: an IANA name or a fixed offset `±HH:MM`; the expression is matched against the wall
clock there. Daylight saving:
- a wall time that does not exist (the spring-forward gap) fires once, at the first real instant
  after the gap (02:30 daily in America/New_York fires at 03:00 EDT that day); several gap times
  that match collapse into that one fire;
- a wall time that occurs twice (the fall-back hour) fires once, at its first occurrence, unless
  the hour field is `*`: then the expression means "every so often" rather than "at this time of
  day", and each real instant of the repeated hour whose wall time matches fires, so an
  every-minute schedule keeps firing every minute through the night.
Whatever the zone, fire times are distinct real instants, strictly increasing.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

MIN_LENGTH, MAX_LENGTH = 9, 100
# datetime stops at 9999-12-31; leave a year of room for converting wall times between zones.
LAST_YEAR = 9998
# February counts 29 days: an expression for Feb 29 fires in leap years.
LONGEST_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MONTH_NAMES = ("", "January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")  # fmt: skip

_NUMBER_OR_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_STEP = re.compile(r"\*/([0-9]+)")
_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")
_MAX_OFFSET = timedelta(hours=18)


class CronError(ValueError):
    """An expression or time zone a user gave that cannot be scheduled; the message says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int  # the highest value a user may write
    step_high: int  # where `*` and `*/n` stop: day-of-week stops at 6, 7 being Sunday again


_FIELDS = (
    _Field("second", 0, 59, 59),
    _Field("minute", 0, 59, 59),
    _Field("hour", 0, 23, 23),
    _Field("day-of-month", 1, 31, 31),
    _Field("month", 1, 12, 12),
    _Field("day-of-week", 0, 7, 6),
)


@dataclass(frozen=True)
class CronFields:
    """The values each field matches, in ascending order; day-of-week 0 = Sunday."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: tuple[int, ...]
    days_of_week: frozenset[int]

    @property
    def dom_restricted(self) -> bool:
        return len(self.days_of_month) < 31

    @property
    def dow_restricted(self) -> bool:
        return len(self.days_of_week) < 7

    @property
    def every_hour(self) -> bool:
        return len(self.hours) == 24

    def day_matches(self, day: date) -> bool:
        in_month = day.day in self.days_of_month
        in_week = (day.weekday() + 1) % 7 in self.days_of_week
        if self.dom_restricted and self.dow_restricted:
            return in_month or in_week
        if self.dom_restricted:
            return in_month
        return in_week

    def wall_times_from(self, start: datetime) -> Iterator[datetime]:
        """Matching naive wall times >= `start` (whole seconds), in ascending order."""
        for year in range(start.year, LAST_YEAR + 1):
            at_year = year == start.year
            for month in self.months:
                if at_year and month < start.month:
                    continue
                at_month = at_year and month == start.month
                first_day = start.day if at_month else 1
                for day in range(first_day, calendar.monthrange(year, month)[1] + 1):
                    if not self.day_matches(date(year, month, day)):
                        continue
                    at_day = at_month and day == start.day
                    for hour in self.hours:
                        if at_day and hour < start.hour:
                            continue
                        at_hour = at_day and hour == start.hour
                        for minute in self.minutes:
                            if at_hour and minute < start.minute:
                                continue
                            at_minute = at_hour and minute == start.minute
                            for second in self.seconds:
                                if at_minute and second < start.second:
                                    continue
                                yield datetime(year, month, day, hour, minute, second)


@dataclass(frozen=True)
class CronSchedule:
    """A validated expression and the zone its wall clock is read in. Build it with `parse`."""

    expression: str
    timezone: str
    fields: CronFields = field(repr=False, compare=False)
    zone: tzinfo = field(repr=False, compare=False)

    def next_after(self, after: datetime) -> datetime:
        """The first fire strictly after `after` (aware, any zone), as an aware UTC datetime."""
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        instant = after.astimezone(UTC)
        local = instant.astimezone(self.zone)
        start = local.replace(tzinfo=None, microsecond=0)
        if self.fields.every_hour and _in_first_pass(local):
            return self._next_from_first_pass(instant, local, start)
        for wall in self.fields.wall_times_from(start):
            first, repeat = self._fires_at(wall)
            if first > instant:
                return first
            # Only while `after` lies in the second pass of a repeated hour: the wall times still
            # to come in that pass have their first instants behind us and their repeats ahead.
            if self.fields.every_hour and repeat is not None and repeat > instant:
                return repeat
        raise self._exhausted()

    def fires_between(self, start: datetime, end: datetime, limit: int = 1000) -> list[datetime]:
        """Fire times t with start < t <= end, ascending, in UTC; at most `limit` of them."""
        fires: list[datetime] = []
        end_utc = end.astimezone(UTC)
        cursor = start
        while len(fires) < limit:
            cursor = self.next_after(cursor)
            if cursor > end_utc:
                break
            fires.append(cursor)
        return fires

    def _fires_at(self, wall: datetime) -> tuple[datetime, datetime | None]:
        """When a matching wall time fires: its first instant, and its repeat if it occurs twice."""
        fold0 = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        fold1 = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if fold0 == fold1:
            return fold0, None
        if fold0.astimezone(self.zone).replace(tzinfo=None) == wall:
            return fold0, fold1
        # In a gap fold=0 reads the wall time with the offset from before the gap, which lands
        # after the transition, and fold=1 lands before it: the transition lies between the two.
        return _transition_between(self.zone, fold1, fold0), None

    def _next_from_first_pass(self, instant: datetime, local: datetime, start: datetime) -> datetime:
        """The next fire while `after` is in the first pass of a repeated hour and every hour fires.

        A later wall time of this pass comes first; failing that, the repeat of the earliest
        matching wall time of the hour, which begins again at the transition.
        """
        first = next(
            (fire for fire, _ in map(self._fires_at, self.fields.wall_times_from(start)) if fire > instant),
            None,
        )
        if first is None:
            raise self._exhausted()
        overlap = _offset(local) - _offset(local.replace(fold=1))
        transition = _transition_between(self.zone, instant, instant + overlap)
        if first < transition:
            return first
        repeat_start = transition.astimezone(self.zone).replace(tzinfo=None)
        for wall in self.fields.wall_times_from(repeat_start):
            _, repeat = self._fires_at(wall)
            return first if repeat is None else min(first, repeat)
        return first

    def _exhausted(self) -> CronError:
        return CronError(f"Cron expression {self.expression!r} has no fire time before year {LAST_YEAR + 1}")


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None  # every moment here carries a zone
    return offset


def _in_first_pass(local: datetime) -> bool:
    """Whether a real local time is the first of two instants that show the same wall time."""
    return local.fold == 0 and _offset(local.replace(fold=1)) != _offset(local)


def _transition_between(zone: tzinfo, before: datetime, after: datetime) -> datetime:
    """The first whole second in (before, after] whose UTC offset differs from the one at `before`.

    Zone transitions fall on whole seconds; bisection needs ~12 steps for an hour.
    """
    low, high = int(before.timestamp()), int(after.timestamp())
    offset = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def parse(expression: str, timezone: str = "UTC") -> CronSchedule:
    """A validated schedule, or CronError with a message fit for the API's 400."""
    fields = parse_fields(expression)
    return CronSchedule(expression=expression, timezone=timezone, fields=fields, zone=parse_zone(timezone))


def parse_fields(expression: str) -> CronFields:
    if not isinstance(expression, str):
        raise CronError("Invalid cron expression: expected a string")
    if not MIN_LENGTH <= len(expression) <= MAX_LENGTH:
        raise CronError(f"Invalid cron expression: must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    parts = expression.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise CronError(
            f"Invalid cron expression: expected 5 or 6 fields "
            f"(sec min hour day-of-month month day-of-week), got {len(parts)}"
        )
    sets = [_parse_field(text, spec) for text, spec in zip(parts, _FIELDS, strict=True)]
    fields = CronFields(
        seconds=tuple(sorted(sets[0])),
        minutes=tuple(sorted(sets[1])),
        hours=tuple(sorted(sets[2])),
        days_of_month=frozenset(sets[3]),
        months=tuple(sorted(sets[4])),
        days_of_week=frozenset(value % 7 for value in sets[5]),
    )
    _reject_never_firing(fields)
    return fields


def _parse_field(text: str, spec: _Field) -> set[int]:
    if text == "*":
        return set(range(spec.low, spec.step_high + 1))
    step = _STEP.fullmatch(text)
    if step:
        n = int(step.group(1))
        if not 1 <= n <= spec.high:
            raise CronError(f"Invalid cron expression: step in {spec.name} field must be 1 to {spec.high}")
        return set(range(spec.low, spec.step_high + 1, n))
    values: set[int] = set()
    for item in text.split(","):
        match = _NUMBER_OR_RANGE.fullmatch(item)
        if not match:
            raise CronError(
                f"Invalid cron expression: {item!r} is not supported in the {spec.name} field "
                "(use *, a number, a-b, a,b,c or */n)"
            )
        first = _bounded(int(match.group(1)), spec)
        last = _bounded(int(match.group(2)), spec) if match.group(2) is not None else first
        if first > last:
            raise CronError(f"Invalid cron expression: range {item} in the {spec.name} field runs backwards")
        values.update(range(first, last + 1))
    return values


def _bounded(value: int, spec: _Field) -> int:
    if not spec.low <= value <= spec.high:
        raise CronError(
            f"Invalid cron expression: {spec.name} value {value} is out of range {spec.low}-{spec.high}"
        )
    return value


def _reject_never_firing(fields: CronFields) -> None:
    # Only a day-of-month list alone can miss every month; a day-of-week always comes round.
    if fields.dow_restricted or not fields.dom_restricted:
        return
    if any(day <= LONGEST_MONTH[month] for month in fields.months for day in fields.days_of_month):
        return
    days = ",".join(str(day) for day in sorted(fields.days_of_month))
    months = ", ".join(MONTH_NAMES[month] for month in fields.months)
    raise CronError(f"Invalid cron expression: it never fires (day {days} does not occur in {months})")


_NOT_A_ZONE = re.compile(r"localtime|posixrules|Factory|(right|posix)/.*")


def parse_zone(name: str) -> tzinfo:
    """An IANA zone or a fixed `±HH:MM` offset; "UTC" needs no tz database."""
    if not isinstance(name, str):
        raise CronError("Invalid timezone: expected a string")
    if name == "UTC":
        return UTC
    offset = _OFFSET.fullmatch(name)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if int(minutes) > 59 or delta > _MAX_OFFSET:
            raise CronError(f"Invalid timezone: {name!r} is not an offset between -18:00 and +18:00")
        return timezone(-delta if sign == "-" else delta)
    # The pattern keeps paths (`..`, absolute) away from the tz database lookup. Files of the system
    # database that are not zones of their own are refused: `localtime` is whatever zone the host
    # runs in (Lambda's differs from a laptop's), `right/…` zones count leap seconds.
    if len(name) <= 64 and _ZONE_NAME.fullmatch(name) and not _NOT_A_ZONE.fullmatch(name):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise CronError(f"Invalid timezone: {name!r} is not an IANA time zone name or a ±HH:MM offset")
