"""Time as the service sees it. Passed into policies and stores so tests control it.

"Now" always comes from the service, never from a worker's clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now_ms: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self._now_ms = now_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        self._now_ms += int(seconds * 1000)


def to_rfc3339(ms: int | None) -> str | None:
    """Millisecond epoch → RFC 3339 with microseconds and Z, as the reference emits."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:  # a naive timestamp from a client means UTC
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
