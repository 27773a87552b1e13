"""The cron policy: grammar, matching, zones and the daylight-saving rules of shared/schedules/cron.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from shared.schedules.cron import CronError, CronSchedule, parse


def utc(text: str) -> datetime:
    """An instant written as ISO 8601; a bare time is read as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moments: list[datetime]) -> list[str]:
    return [moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in moments]


def local_iso(moments: list[datetime], zone: str) -> list[str]:
    return [moment.astimezone(ZoneInfo(zone)).isoformat() for moment in moments]


# --- grammar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "seconds", "minutes", "hours", "days_of_month", "months", "days_of_week"),
    [
        ("* * * * * *", range(60), range(60), range(24), range(1, 32), range(1, 13), range(7)),
        ("* * * * *", [0], range(60), range(24), range(1, 32), range(1, 13), range(7)),
        ("0 0 12 * * 1-5", [0], [0], [12], range(1, 32), range(1, 13), [1, 2, 3, 4, 5]),
        ("*/15 * * * * *", [0, 15, 30, 45], range(60), range(24), range(1, 32), range(1, 13), range(7)),
        (
            "0 */7 * * * *",
            [0],
            [0, 7, 14, 21, 28, 35, 42, 49, 56],
            range(24),
            range(1, 32),
            range(1, 13),
            range(7),
        ),
        ("0 0 */5 * * *", [0], [0], [0, 5, 10, 15, 20], range(1, 32), range(1, 13), range(7)),
        # Steps count from the field minimum: day-of-month and month start at 1.
        ("0 0 0 */7 * *", [0], [0], [0], [1, 8, 15, 22, 29], range(1, 13), range(7)),
        ("0 0 0 1 */5 *", [0], [0], [0], [1], [1, 6, 11], range(7)),
        ("0 0 0 * * */2", [0], [0], [0], range(1, 32), range(1, 13), [0, 2, 4, 6]),
        ("0 0 0 * * */7", [0], [0], [0], range(1, 32), range(1, 13), [0]),
        ("*/59 * * * * *", [0, 59], range(60), range(24), range(1, 32), range(1, 13), range(7)),
        ("0 0 0 */31 * *", [0], [0], [0], [1], range(1, 13), range(7)),
        # 7 and 0 are both Sunday.
        ("0 0 0 * * 7", [0], [0], [0], range(1, 32), range(1, 13), [0]),
        ("0 0 0 * * 5-7", [0], [0], [0], range(1, 32), range(1, 13), [0, 5, 6]),
        ("0 0 0 * * 0-7", [0], [0], [0], range(1, 32), range(1, 13), range(7)),
        (
            "5,10,15 1-3,30 0,23 1,15,31 1,12 0",
            [5, 10, 15],
            [1, 2, 3, 30],
            [0, 23],
            [1, 15, 31],
            [1, 12],
            [0],
        ),
        ("59 59 23 31 12 6", [59], [59], [23], [31], [12], [6]),
        ("00 05 09 01 02 *", [0], [5], [9], [1], [2], range(7)),
        ("  0   0  12  *  *  * ", [0], [0], [12], range(1, 32), range(1, 13), range(7)),
        ("0\t0\t12\t*\t*\t*", [0], [0], [12], range(1, 32), range(1, 13), range(7)),
        ("0 0 0 3-3 * *", [0], [0], [0], [3], range(1, 13), range(7)),
    ],
)
def test_valid_expressions_match_these_values(
    expression: str,
    seconds: list[int],
    minutes: list[int],
    hours: list[int],
    days_of_month: list[int],
    months: list[int],
    days_of_week: list[int],
) -> None:
    fields = parse(expression).fields
    assert fields.seconds == tuple(seconds)
    assert fields.minutes == tuple(minutes)
    assert fields.hours == tuple(hours)
    assert fields.days_of_month == frozenset(days_of_month)
    assert fields.months == tuple(months)
    assert fields.days_of_week == frozenset(days_of_week)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "9 to 100 characters"),
        ("* * * *", "9 to 100 characters"),
        ("1 2 3 4 ", "9 to 100 characters"),
        ("0 0 0 1 1" + " " * 91 + "*", "9 to 100 characters"),
        ("* * * * * * *", "got 7"),
        ("0 0 * * * * 2026", "got 7"),
        ("*  *  * *", "got 4"),
        ("0 0 12 * * MON", "'MON' is not supported in the day-of-week field"),
        ("0 0 12 * JAN *", "'JAN' is not supported in the month field"),
        ("0 0 12 ? * 1", "'?' is not supported in the day-of-month field"),
        ("0 0 12 L * *", "'L' is not supported"),
        ("0 0 12 15W * *", "'15W' is not supported"),
        ("0 0 12 * * 5#3", "'5#3' is not supported"),
        ("0 0 12 * * 5L", "'5L' is not supported"),
        ("0 0 1-10/2 * * *", "'1-10/2' is not supported in the hour field"),
        ("0 5/15 * * * *", "'5/15' is not supported in the minute field"),
        ("0 0/15 * * * *", "'0/15' is not supported in the minute field"),
        ("0 */0 * * * *", "step in minute field must be 1 to 59"),
        ("*/60 * * * * *", "step in second field must be 1 to 59"),
        ("0 0 */24 * * *", "step in hour field must be 1 to 23"),
        ("0 0 0 */32 * *", "step in day-of-month field must be 1 to 31"),
        ("0 0 0 1 */13 *", "step in month field must be 1 to 12"),
        ("0 0 0 * * */8", "step in day-of-week field must be 1 to 7"),
        ("60 * * * * *", "second value 60 is out of range 0-59"),
        ("0 60 * * * *", "minute value 60 is out of range 0-59"),
        ("0 0 24 * * *", "hour value 24 is out of range 0-23"),
        ("0 0 0 0 * *", "day-of-month value 0 is out of range 1-31"),
        ("0 0 0 32 * *", "day-of-month value 32 is out of range 1-31"),
        ("0 0 0 1 0 *", "month value 0 is out of range 1-12"),
        ("0 0 0 1 13 *", "month value 13 is out of range 1-12"),
        ("0 0 0 * * 8", "day-of-week value 8 is out of range 0-7"),
        ("0 0 0 * * 1-8", "day-of-week value 8 is out of range 0-7"),
        ("0 0 5-1 * * *", "range 5-1 in the hour field runs backwards"),
        ("0 0 1,,2 * * *", "'' is not supported in the hour field"),
        ("0 0 1, * * *", "'' is not supported in the hour field"),
        ("0 0 ,1 * * *", "'' is not supported in the hour field"),
        ("0 0 -1 * * *", "'-1' is not supported"),
        ("0 0 1- * * *", "'1-' is not supported"),
        ("0 0 *,1 * * *", "'*' is not supported"),
        ("0 0 */2,3 * * *", "'*/2' is not supported"),
        ("0 0 ** * * *", "'**' is not supported"),
        ("0 0 +1 * * *", "'+1' is not supported"),
        ("0 0 1.5 * * *", "'1.5' is not supported"),
        # An Arabic-Indic digit one, which int() would accept.
        ("0 0 \u0661 * * *", "'\u0661' is not supported"),
        ("@daily * * * *", "'@daily' is not supported"),
        ("0 0 0 31 2 *", "never fires (day 31 does not occur in February)"),
        ("0 0 0 30,31 2 *", "never fires (day 30,31 does not occur in February)"),
        ("0 0 0 31 4,6,9,11 *", "does not occur in April, June, September, November"),
    ],
)
def test_invalid_expressions_are_rejected_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(CronError) as raised:
        parse(expression)
    assert str(raised.value).startswith("Invalid cron expression: ")
    assert reason in str(raised.value)


def test_cron_error_is_a_value_error() -> None:
    assert issubclass(CronError, ValueError)


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 0 31 2 1",  # day-of-week restricted too: Mondays in February
        "0 0 0 30 2,3 *",
        "0 0 0 29 2 *",
        "0 0 0 31 * *",
        "* * * * * *",
        "*/1 */1 */1 */1 */1 */1",
        "0 0 0 1 1" + " " * 90 + "*",  # 100 characters
    ],
)
def test_expressions_that_fire_are_accepted(expression: str) -> None:
    schedule = parse(expression)
    assert schedule.expression == expression
    assert schedule.timezone == "UTC"
    assert schedule.next_after(utc("2026-01-01T00:00:00")) > utc("2026-01-01T00:00:00")


# --- time zones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "offset_at_new_year_2026"),
    [
        ("UTC", timedelta(0)),
        ("Etc/UTC", timedelta(0)),
        ("America/New_York", timedelta(hours=-5)),
        ("Europe/London", timedelta(0)),
        ("Asia/Kolkata", timedelta(hours=5, minutes=30)),
        ("Asia/Kathmandu", timedelta(hours=5, minutes=45)),
        ("America/Argentina/Buenos_Aires", timedelta(hours=-3)),
        ("Etc/GMT+5", timedelta(hours=-5)),
        ("+05:30", timedelta(hours=5, minutes=30)),
        ("-08:00", timedelta(hours=-8)),
        ("+00:00", timedelta(0)),
        ("-00:00", timedelta(0)),
        ("+14:00", timedelta(hours=14)),
        ("-12:00", timedelta(hours=-12)),
    ],
)
def test_zones_are_iana_names_or_fixed_offsets(zone: str, offset_at_new_year_2026: timedelta) -> None:
    schedule = parse("0 0 0 * * *", zone)
    assert schedule.timezone == zone
    fire = schedule.next_after(datetime(2025, 12, 31, 12, tzinfo=schedule.zone))
    assert fire.utcoffset() == timedelta(0)
    assert fire.astimezone(schedule.zone).replace(tzinfo=None) == datetime(2026, 1, 1)
    assert schedule.zone.utcoffset(fire.replace(tzinfo=None)) == offset_at_new_year_2026


@pytest.mark.parametrize(
    "zone",
    [
        "",
        "utc",
        "Mars/Olympus_Mons",
        "America",
        "America/",
        "/etc/passwd",
        "../../etc/passwd",
        "America/../Europe/London",
        "Europe/London ",
        "+5:30",
        "+0530",
        "05:30",
        "+05:60",
        "+19:00",
        "-18:01",
        "+05:30:00",
        "EST 5",
        "A" * 65,
        "localtime",  # the host's own zone: a laptop's differs from Lambda's
        "posixrules",
        "right/UTC",  # leap-second variants of the database
        "posix/Europe/London",
    ],
)
def test_unknown_zones_are_rejected(zone: str) -> None:
    with pytest.raises(CronError, match=r"^Invalid timezone: "):
        parse("0 0 0 * * *", zone)


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # seconds, and the 5-field form firing on whole minutes
        ("*/10 * * * * *", "UTC", "2026-01-01T00:00:00", "2026-01-01T00:00:10"),
        ("*/10 * * * * *", "UTC", "2026-01-01T00:00:09.999", "2026-01-01T00:00:10"),
        ("30 * * * * *", "UTC", "2026-01-01T00:00:30", "2026-01-01T00:01:30"),
        ("* * * * *", "UTC", "2026-01-01T00:00:00", "2026-01-01T00:01:00"),
        ("* * * * *", "UTC", "2026-01-01T00:00:00.5", "2026-01-01T00:01:00"),
        ("*/5 * * * *", "UTC", "2026-01-01T00:04:59", "2026-01-01T00:05:00"),
        ("0 9 * * 1", "UTC", "2026-01-01T00:00:00", "2026-01-05T09:00:00"),  # 1 Jan 2026 is a Thursday
        # day-of-week 7 and 0 are Sunday
        ("0 0 12 * * 7", "UTC", "2026-01-01T00:00:00", "2026-01-04T12:00:00"),
        ("0 0 12 * * 0", "UTC", "2026-01-01T00:00:00", "2026-01-04T12:00:00"),
        # Vixie: both restricted -> either matches; one of them `*` -> only the other counts
        ("0 0 0 13 * 5", "UTC", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),  # Friday 2 Jan
        ("0 0 0 13 * 5", "UTC", "2026-01-10T00:00:00", "2026-01-13T00:00:00"),  # the 13th, a Tuesday
        ("0 0 0 13 * *", "UTC", "2026-01-01T00:00:00", "2026-01-13T00:00:00"),
        ("0 0 0 * * 5", "UTC", "2026-01-03T00:00:00", "2026-01-09T00:00:00"),
        ("0 0 0 */1 * 5", "UTC", "2026-01-03T00:00:00", "2026-01-09T00:00:00"),  # */1 restricts nothing
        ("0 0 0 1 * 0-7", "UTC", "2026-01-03T00:00:00", "2026-02-01T00:00:00"),
        ("0 0 0 31 2 1", "UTC", "2026-01-31T00:00:00", "2026-02-02T00:00:00"),
        # steps from the field minimum
        ("0 0 0 */7 * *", "UTC", "2026-01-29T00:00:00", "2026-02-01T00:00:00"),
        ("0 0 0 1 */5 *", "UTC", "2026-01-01T00:00:00", "2026-06-01T00:00:00"),
        # month ends, leap days and year rollover
        ("0 0 0 31 * *", "UTC", "2026-01-31T00:00:00", "2026-03-31T00:00:00"),
        ("0 0 0 30 * *", "UTC", "2026-01-30T00:00:00", "2026-03-30T00:00:00"),
        ("0 0 0 29 2 *", "UTC", "2026-01-01T00:00:00", "2028-02-29T00:00:00"),
        ("0 0 0 29 2 *", "UTC", "2028-02-29T00:00:00", "2032-02-29T00:00:00"),
        ("0 0 0 29 2 *", "UTC", "2097-01-01T00:00:00", "2104-02-29T00:00:00"),  # 2100 is no leap year
        ("0 0 0 28-31 2 *", "UTC", "2027-02-28T00:00:00", "2028-02-28T00:00:00"),
        ("59 59 23 31 12 *", "UTC", "2026-06-01T00:00:00", "2026-12-31T23:59:59"),
        ("59 59 23 31 12 *", "UTC", "2026-12-31T23:59:59", "2027-12-31T23:59:59"),
        ("0 0 0 1 1 *", "UTC", "2026-12-31T23:59:59.999999", "2027-01-01T00:00:00"),
        ("* * * * * *", "UTC", "2026-12-31T23:59:59", "2027-01-01T00:00:00"),
        # fixed offsets: wall clock there, answer in UTC
        ("0 0 9 * * *", "+05:30", "2026-01-01T00:00:00", "2026-01-01T03:30:00"),
        ("0 0 9 * * *", "+05:30", "2026-01-01T03:30:00", "2026-01-02T03:30:00"),
        ("0 0 9 * * *", "-08:00", "2026-01-01T00:00:00", "2026-01-01T17:00:00"),
        ("0 0 0 1 1 *", "-08:00", "2026-12-31T00:00:00", "2027-01-01T08:00:00"),
        ("0 0 0 1 1 *", "+14:00", "2026-12-31T00:00:00", "2026-12-31T10:00:00"),
        # IANA zones, standard and summer time
        ("0 0 9 * * *", "America/New_York", "2026-01-15T00:00:00", "2026-01-15T14:00:00"),
        ("0 0 9 * * *", "America/New_York", "2026-07-15T00:00:00", "2026-07-15T13:00:00"),
        ("0 0 9 * * *", "Europe/London", "2026-07-15T00:00:00", "2026-07-15T08:00:00"),
        ("0 0 9 * * *", "Asia/Kathmandu", "2026-07-15T00:00:00", "2026-07-15T03:15:00"),
        ("0 0 0 * * 1", "Pacific/Auckland", "2026-01-01T00:00:00", "2026-01-04T11:00:00"),  # local Mon 5th
        # `after` in another zone means the same instant
        ("0 0 9 * * *", "UTC", "2026-01-01T09:00:00+01:00", "2026-01-01T09:00:00"),
        ("0 0 9 * * *", "UTC", "2026-01-01T09:00:00-01:00", "2026-01-02T09:00:00"),
    ],
)
def test_next_after(expression: str, zone: str, after: str, expected: str) -> None:
    fire = parse(expression, zone).next_after(utc(after))
    assert fire == utc(expected)
    assert fire.tzinfo is UTC


def test_next_after_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse("* * * * * *").next_after(datetime(2026, 1, 1))


# --- daylight saving ---------------------------------------------------------------------------
# 2026: New York springs forward 8 Mar 02:00 EST -> 03:00 EDT and falls back 1 Nov 02:00 EDT -> 01:00
# EST; London springs forward 29 Mar 01:00 GMT -> 02:00 BST and falls back 25 Oct 02:00 BST -> 01:00.


@pytest.mark.parametrize(
    ("expression", "zone", "start", "end", "expected_local"),
    [
        # A daily time in the spring-forward gap fires once, at the first instant after the gap.
        ("0 30 2 * * *", "America/New_York", "2026-03-07T00:00:00", "2026-03-10T00:00:00",
         ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
        ("0 30 1 * * *", "Europe/London", "2026-03-28T00:00:00", "2026-03-31T00:00:00",
         ["2026-03-28T01:30:00+00:00", "2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]),
        # Several matching gap times collapse into one fire, shared with the first real time.
        ("0 0,30 2,3 * * *", "America/New_York", "2026-03-08T06:00:00", "2026-03-08T09:00:00",
         ["2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"]),
        # A daily time in the repeated hour fires once, at its first occurrence.
        ("0 30 1 * * *", "America/New_York", "2026-10-31T00:00:00", "2026-11-03T00:00:00",
         ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
        ("0 30 1 * * *", "Europe/London", "2026-10-24T00:00:00", "2026-10-27T00:00:00",
         ["2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]),
        ("0 0,30 1 * * *", "America/New_York", "2026-11-01T04:00:00", "2026-11-01T08:00:00",
         ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00"]),
        # Every 30 minutes: the gap is skipped, the repeated hour runs twice, nothing fires twice.
        ("0 */30 * * * *", "America/New_York", "2026-03-08T05:00:00", "2026-03-08T08:00:00",
         ["2026-03-08T00:30:00-05:00", "2026-03-08T01:00:00-05:00", "2026-03-08T01:30:00-05:00",
          "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-08T04:00:00-04:00"]),
        ("0 */30 * * * *", "America/New_York", "2026-11-01T04:00:00", "2026-11-01T07:30:00",
         ["2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00",
          "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00",
          "2026-11-01T02:30:00-05:00"]),
        ("0 */30 * * * *", "Europe/London", "2026-03-29T00:00:00", "2026-03-29T02:00:00",
         ["2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00",
          "2026-03-29T03:00:00+01:00"]),
        ("0 */30 * * * *", "Europe/London", "2026-10-24T23:30:00", "2026-10-25T02:00:00",
         ["2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:00:00+00:00",
          "2026-10-25T01:30:00+00:00", "2026-10-25T02:00:00+00:00"]),
        # Chile changes its clocks at midnight: the day's 00:00 does not exist in September, and
        # Saturday's 23:00 hour repeats in April.
        ("0 0 0 * * *", "America/Santiago", "2026-09-04T12:00:00", "2026-09-07T12:00:00",
         ["2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"]),
        ("0 30 23 * * *", "America/Santiago", "2026-04-03T12:00:00", "2026-04-06T12:00:00",
         ["2026-04-03T23:30:00-03:00", "2026-04-04T23:30:00-03:00", "2026-04-05T23:30:00-04:00"]),
        # Lord Howe Island moves its clocks by half an hour.
        ("0 15 2 * * *", "Australia/Lord_Howe", "2026-10-02T12:00:00", "2026-10-05T12:00:00",
         ["2026-10-03T02:15:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]),
        ("0 45 1 * * *", "Australia/Lord_Howe", "2026-04-03T12:00:00", "2026-04-06T12:00:00",
         ["2026-04-04T01:45:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]),
    ],
)  # fmt: skip
def test_daylight_saving_transitions(
    expression: str, zone: str, start: str, end: str, expected_local: list[str]
) -> None:
    fires = parse(expression, zone).fires_between(utc(start), utc(end))
    assert local_iso(fires, zone) == expected_local


@pytest.mark.parametrize(
    ("zone", "spring_gap_start", "fall_back"),
    [
        ("America/New_York", "2026-03-08T07:00:00", "2026-11-01T06:00:00"),
        ("Europe/London", "2026-03-29T01:00:00", "2026-10-25T01:00:00"),
    ],
)
def test_every_second_fires_on_every_real_second_across_both_transitions(
    zone: str, spring_gap_start: str, fall_back: str
) -> None:
    schedule = parse("* * * * * *", zone)
    for transition in (utc(spring_gap_start), utc(fall_back)):
        start, end = transition - timedelta(minutes=61), transition + timedelta(minutes=61)
        fires = schedule.fires_between(start, end, limit=10_000)
        assert fires == [start + timedelta(seconds=n) for n in range(1, 122 * 60 + 1)]


def test_every_second_within_one_hour_fires_only_in_its_first_pass() -> None:
    """`* * 1 * * *` is an hour of the day: the repeated 01:00 hour runs once."""
    schedule = parse("* * 1 * * *", "America/New_York")
    fires = schedule.fires_between(utc("2026-11-01T04:00:00"), utc("2026-11-01T08:00:00"), limit=10_000)
    assert len(fires) == 3600
    assert fires[0] == utc("2026-11-01T05:00:00")
    assert fires[-1] == utc("2026-11-01T05:59:59")


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Anywhere in the first pass of the repeated hour, with no later time left in that pass,
        # the next fire is the first matching time of the second pass.
        ("2026-11-01T05:50:00", "2026-11-01T06:10:00"),
        ("2026-11-01T05:59:59.5", "2026-11-01T06:10:00"),
        ("2026-11-01T05:10:00", "2026-11-01T05:50:00"),
        ("2026-11-01T05:09:59", "2026-11-01T05:10:00"),
        # In the second pass, the next matching time of that pass, then on past the hour.
        ("2026-11-01T06:00:00", "2026-11-01T06:10:00"),
        ("2026-11-01T06:10:00", "2026-11-01T06:50:00"),
        ("2026-11-01T06:50:00", "2026-11-01T07:10:00"),
    ],
)
def test_next_after_from_inside_the_repeated_hour(after: str, expected: str) -> None:
    assert parse("0 10,50 * * * *", "America/New_York").next_after(utc(after)) == utc(expected)


# --- invariants against a brute-force reference ------------------------------------------------


def _transitions(zone: ZoneInfo, year: int) -> Iterator[datetime]:
    """The instants in `year` at which the zone's UTC offset changes (whole minutes in 2026)."""
    moment = datetime(year, 1, 1, tzinfo=UTC)
    while moment.year == year:
        following = moment + timedelta(hours=1)
        before = moment.astimezone(zone).utcoffset()
        if before != following.astimezone(zone).utcoffset():
            while (moment + timedelta(minutes=1)).astimezone(zone).utcoffset() == before:
                moment += timedelta(minutes=1)
            yield moment + timedelta(minutes=1)
        moment = following


def _brute_force(schedule: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    """The documented policy, checked minute by real minute (expressions here fire on second 0)."""
    fields = schedule.fields

    def matches(wall: datetime) -> bool:
        return (
            wall.second in fields.seconds
            and wall.minute in fields.minutes
            and wall.hour in fields.hours
            and wall.month in fields.months
            and fields.day_matches(wall.date())
        )

    fires: list[datetime] = []
    previous_wall = start.astimezone(schedule.zone).replace(tzinfo=None)
    moment = start + timedelta(minutes=1)
    while moment <= end:
        local = moment.astimezone(schedule.zone)
        wall = local.replace(tzinfo=None)
        skipped = previous_wall + timedelta(minutes=1)
        gap_matches = False
        while skipped < wall:
            gap_matches = gap_matches or matches(skipped)
            skipped += timedelta(minutes=1)
        repeated = local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
        if gap_matches or (matches(wall) and (not repeated or fields.every_hour)):
            fires.append(moment)
        previous_wall = wall
        moment += timedelta(minutes=1)
    return fires


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago"]
)
@pytest.mark.parametrize(
    "expression",
    [
        "0 * * * * *",
        "0 */7 * * * *",
        "0 0,15,30,45 * * * *",
        "0 30 * * * *",
        "0 5,40 0-3,23 * * *",
        "0 30 1,2 * * *",
        "0 */20 0 * * *",
        "0 0 */2 * * *",
        "0 15 2 * * *",
    ],
)
def test_fires_agree_with_a_brute_force_reference_around_every_transition(zone: str, expression: str) -> None:
    schedule = parse(expression, zone)
    for transition in _transitions(ZoneInfo(zone), 2026):
        start, end = transition - timedelta(hours=4), transition + timedelta(hours=4)
        assert iso(schedule.fires_between(start, end)) == iso(_brute_force(schedule, start, end))


@pytest.mark.parametrize(
    ("expression", "zone"),
    [
        ("*/13 */7 * * * *", "America/New_York"),
        ("0 0 0 13 * 5", "Europe/London"),
        ("0 0 0 29 2 *", "UTC"),
        ("0 0 0 31 * *", "+05:30"),
        ("30 30 1 * * *", "America/New_York"),
        ("0 */30 * * * *", "Australia/Lord_Howe"),
        ("0 0 0 * * 0", "America/Santiago"),
    ],
)
def test_fires_are_strictly_increasing_and_each_is_the_next_after_the_one_before(
    expression: str, zone: str
) -> None:
    schedule = parse(expression, zone)
    start = utc("2026-01-01T00:00:00")
    fires = schedule.fires_between(start, utc("2031-01-01T00:00:00"), limit=500)
    assert fires
    assert all(earlier < later for earlier, later in pairwise(fires))
    assert schedule.next_after(start) == fires[0]
    for earlier, later in pairwise(fires):
        assert schedule.next_after(earlier) == later
        assert schedule.next_after(later - timedelta(microseconds=1)) == later


def test_fires_between_excludes_start_includes_end_and_honours_the_limit() -> None:
    schedule = parse("0 * * * * *")
    start, end = utc("2026-01-01T00:00:00"), utc("2026-01-01T00:05:00")
    assert iso(schedule.fires_between(start, end)) == [
        "2026-01-01T00:01:00Z",
        "2026-01-01T00:02:00Z",
        "2026-01-01T00:03:00Z",
        "2026-01-01T00:04:00Z",
        "2026-01-01T00:05:00Z",
    ]
    assert len(schedule.fires_between(start, end, limit=2)) == 2
    assert schedule.fires_between(start, end, limit=0) == []
    assert schedule.fires_between(end, start) == []
    assert schedule.fires_between(start, start + timedelta(seconds=59)) == []


def test_schedules_compare_by_expression_and_zone() -> None:
    assert parse("0 0 9 * * *", "Europe/London") == parse("0 0 9 * * *", "Europe/London")
    assert parse("0 0 9 * * *", "Europe/London") != parse("0 0 9 * * *", "Europe/Paris")
    assert parse("0 0 9 * * *", "+01:00").zone == timezone(timedelta(hours=1))
