"""Part 7's arithmetic, kept pure so it is tested with tables of cases (tests/bench/test_event_latency.py):
latency summaries, their ratio to the run's baseline, and the accounting of a cron schedule's fires.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def summary_ms(values: Sequence[float]) -> dict[str, Any]:
    """Count, median, p95 (nearest rank) and max, in ms rounded to 0.1; None when nothing was measured."""
    if not values:
        return {"count": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "count": len(ordered),
        "median_ms": round(float(statistics.median(ordered)), 1),
        "p95_ms": round(float(p95), 1),
        "max_ms": round(float(ordered[-1]), 1),
    }


def times_baseline(median_ms: float | None, baseline_median_ms: float | None) -> float | None:
    """A median as a multiple of the baseline's: the machine's load cancels out of the comparison."""
    if median_ms is None or not baseline_median_ms:
        return None
    return round(median_ms / baseline_median_ms, 2)


def fire_ms_of(idempotency_key: str | None, schedule_id: str) -> int | None:
    """The intended fire instant a cron job carries in its key `schedule:{id}:{fire_ms}`."""
    prefix = f"schedule:{schedule_id}:"
    if not idempotency_key or not idempotency_key.startswith(prefix):
        return None
    tail = idempotency_key[len(prefix) :]
    return int(tail) if tail.isdigit() else None


def cron_fires(
    jobs: Iterable[tuple[int | None, int]], first_fire_ms: int, last_fire_ms: int, period_ms: int = 1000
) -> dict[str, Any]:
    """Account for an every-`period_ms` schedule's jobs, given as (fire_ms from the key, created_ms).

    Every fire from `first_fire_ms` to `last_fire_ms` (both on the grid) must have made exactly one job:
    `missed` counts grid fires without a job (a late fire makes the schedule skip ahead, so lateness
    past a period shows up here too), `duplicates` the jobs beyond the first for one fire, and
    `unattributed` the jobs whose key names no fire of this schedule. Lateness covers every job whose
    fire is known, including fires after the window (a pause can race one in flight)."""
    fires = [(fire, created) for fire, created in jobs]
    per_fire = Counter(fire for fire, _ in fires if fire is not None)
    expected = range(first_fire_ms, last_fire_ms + 1, period_ms)
    lateness = [created - fire for fire, created in fires if fire is not None]
    return {
        "expected_fires": len(expected),
        "jobs": len(fires),
        "missed": sum(1 for fire in expected if fire not in per_fire),
        "duplicates": sum(count - 1 for count in per_fire.values()),
        "unattributed": sum(1 for fire, _ in fires if fire is None),
        "lateness": summary_ms(lateness),
        "early": sum(1 for value in lateness if value < 0),
    }


def last_due_fire_ms(first_fire_ms: int, stopped_ms: int, settle_ms: int, period_ms: int = 1000) -> int:
    """The last fire on the grid that was due at least `settle_ms` before the schedule was stopped:
    fires after it may have been in flight when the pause landed and been dropped as stale."""
    if stopped_ms - settle_ms < first_fire_ms:
        return first_fire_ms - period_ms  # an empty window
    return first_fire_ms + (stopped_ms - settle_ms - first_fire_ms) // period_ms * period_ms
