"""Next run, catch-up and message timing of cron fires (pure; the grammar: shared/schedules/cron.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.plumbing.errors import ValidationFailed
from shared.schedules import policy


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        ("0 * * * * *", "UTC", "2026-01-01T00:00:00", "2026-01-01T00:01:00"),  # strictly after
        ("0 * * * * *", "UTC", "2026-01-01T00:00:00.500", "2026-01-01T00:01:00"),
        ("*/2 * * * * *", "UTC", "2026-01-01T00:00:01", "2026-01-01T00:00:02"),
        ("0 0 9 * * *", "+02:00", "2026-01-01T00:00:00", "2026-01-01T07:00:00"),
        ("0 0 9 * * 1", "UTC", "2026-01-01T00:00:00", "2026-01-05T09:00:00"),  # the first Monday
        # Spring forward in New York (2026-03-08): 02:30 does not exist and fires at 03:00 EDT.
        ("0 30 2 * * *", "America/New_York", "2026-03-08T05:00:00", "2026-03-08T07:00:00"),
        ("0 0 0 29 2 *", "UTC", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),  # leap day
    ],
)
def test_next_fire(expression: str, zone: str, after: str, expected: str) -> None:
    compiled = policy.compile_cron(expression, zone)
    assert policy.next_fire_ms(compiled, _ms(after)) == _ms(expected)


@pytest.mark.parametrize(
    ("fire", "now", "expected"),
    [
        # On time (or a little late): the next occurrence after the fire.
        ("2026-01-01T00:01:00", "2026-01-01T00:01:00", "2026-01-01T00:02:00"),
        ("2026-01-01T00:01:00", "2026-01-01T00:01:00.900", "2026-01-01T00:02:00"),
        # Acted on after downtime: every missed fire is skipped, the next one is after now.
        ("2026-01-01T00:01:00", "2026-01-01T03:17:30", "2026-01-01T03:18:00"),
        ("2026-01-01T00:01:00", "2026-01-01T03:18:00", "2026-01-01T03:19:00"),
        # A clock behind the fire never schedules the same fire again.
        ("2026-01-01T00:01:00", "2026-01-01T00:00:59", "2026-01-01T00:02:00"),
    ],
)
def test_next_after_fire_catches_up_once(fire: str, now: str, expected: str) -> None:
    compiled = policy.compile_cron("0 * * * * *", "UTC")
    assert policy.next_after_fire(compiled, _ms(fire), _ms(now)) == _ms(expected)


@pytest.mark.parametrize(
    ("early_ms", "expected"),
    [
        (-60_000, policy.Timing.DUE),
        (0, policy.Timing.DUE),
        (1, policy.Timing.HOLD),
        (1_000, policy.Timing.HOLD),
        (1_001, policy.Timing.TOO_EARLY),
        (600_000, policy.Timing.TOO_EARLY),
    ],
)
def test_timing(early_ms: int, expected: policy.Timing) -> None:
    now = _ms("2026-01-01T00:00:00")
    assert policy.timing(now + early_ms, now) is expected


@pytest.mark.parametrize(
    ("expression", "zone", "field"),
    [
        ("0 0 25 * * *", "UTC", "cron_expression"),
        ("0 0 12 * * MON", "UTC", "cron_expression"),
        ("0 0 12 * * *", "Europe/Nowhere", "timezone"),
        ("bad", "also bad/", "timezone"),  # the zone is checked first: one field at a time
    ],
)
def test_compile_errors_name_the_field(expression: str, zone: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        policy.compile_cron(expression, zone)
    assert raised.value.status == 400
    [detail] = raised.value.extra["details"]
    assert detail["field"] == field and detail["message"] == raised.value.message
