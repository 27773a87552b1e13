"""Part 7's arithmetic and its parts that need no stack: summaries, the cron fire accounting, the
webhook receiver's signature check, and the report section. (tests/bench/test_bench_small.py runs
the part itself against a local stack at toy sizes.)"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from bench.event_latency import SECRET, Arrivals, signed_by, webhook_receiver
from bench.event_stats import cron_fires, fire_ms_of, last_due_fire_ms, summary_ms, times_baseline
from bench.markdown import event_latency_section
from shared.webhooks.outgoing.signing import signature

S = 1000  # one period of an every-second schedule, in ms
T0 = 1_767_225_600_000  # a fire instant on the grid


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {"count": 0, "median_ms": None, "p95_ms": None, "max_ms": None}),
        ([7], {"count": 1, "median_ms": 7.0, "p95_ms": 7.0, "max_ms": 7.0}),
        ([3, 1, 2, 10], {"count": 4, "median_ms": 2.5, "p95_ms": 10.0, "max_ms": 10.0}),
        (list(range(1, 21)), {"count": 20, "median_ms": 10.5, "p95_ms": 19.0, "max_ms": 20.0}),
        ([0.123, 0.456], {"count": 2, "median_ms": 0.3, "p95_ms": 0.5, "max_ms": 0.5}),
        ([-40, 5, 9], {"count": 3, "median_ms": 5.0, "p95_ms": 9.0, "max_ms": 9.0}),
    ],
)
def test_summary_gives_median_nearest_rank_p95_and_max(values: list[float], expected: dict[str, Any]) -> None:
    assert summary_ms(values) == expected


@pytest.mark.parametrize(
    ("median", "baseline", "expected"),
    [
        (150.0, 50.0, 3.0),
        (20.0, 80.0, 0.25),
        (1.0, 63.3, 0.02),
        (None, 50.0, None),
        (10.0, None, None),
        (10.0, 0.0, None),
    ],
)
def test_ratio_to_the_baseline(median: float | None, baseline: float | None, expected: float | None) -> None:
    assert times_baseline(median, baseline) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (f"schedule:abc:{T0}", T0),
        (f"schedule:other:{T0}", None),  # another schedule's fire
        ("schedule:abc:soon", None),
        ("mine", None),
        (None, None),
    ],
)
def test_the_fire_instant_comes_from_the_idempotency_key(key: str | None, expected: int | None) -> None:
    assert fire_ms_of(key, "abc") == expected


def test_every_fire_once_on_time_is_clean() -> None:
    jobs = [(T0 + i * S, T0 + i * S + 100 + i) for i in range(5)]
    result = cron_fires(jobs, T0, T0 + 4 * S)
    assert (result["expected_fires"], result["jobs"], result["missed"], result["duplicates"]) == (5, 5, 0, 0)
    assert (result["unattributed"], result["early"]) == (0, 0)
    assert result["lateness"] == {"count": 5, "median_ms": 102.0, "p95_ms": 104.0, "max_ms": 104.0}


@pytest.mark.parametrize(
    ("fires", "missed", "duplicates"),
    [
        ([0, 1, 3, 4], 1, 0),  # a late fire made the schedule skip a second
        ([0, 1, 2, 2, 3, 4], 0, 1),  # one fire, two jobs
        ([0, 1, 1, 1, 4], 2, 2),
        ([], 5, 0),  # the schedule never fired
        ([0, 1, 2, 3, 4, 5], 0, 0),  # a fire after the window, raced by the pause, is no miss
    ],
)
def test_missed_and_duplicate_fires_are_counted(fires: list[int], missed: int, duplicates: int) -> None:
    result = cron_fires([(T0 + f * S, T0 + f * S + 50) for f in fires], T0, T0 + 4 * S)
    assert (result["missed"], result["duplicates"]) == (missed, duplicates)
    assert result["lateness"]["count"] == len(fires)


def test_jobs_of_no_known_fire_and_early_jobs_are_reported() -> None:
    result = cron_fires([(T0, T0 - 20), (None, T0 + 300), (T0 + S, T0 + S + 10)], T0, T0 + S)
    assert (result["unattributed"], result["early"], result["missed"]) == (1, 1, 0)
    assert result["lateness"]["count"] == 2


@pytest.mark.parametrize(
    ("stopped", "settle", "expected"),
    [
        (T0 + 10 * S, 2 * S, T0 + 8 * S),
        (T0 + 10 * S + 999, 2 * S, T0 + 8 * S),
        (T0 + 10 * S + 999, 2 * S + 999, T0 + 8 * S),
        (T0 + 2 * S, 2 * S, T0),  # only the first fire is surely due
        (T0 + S, 2 * S, T0 - S),  # stopped before anything was surely due: nothing is expected
    ],
)
def test_the_window_ends_at_the_last_fire_due_well_before_the_pause(
    stopped: int, settle: int, expected: int
) -> None:
    last = last_due_fire_ms(T0, stopped, settle)
    assert last == expected
    assert cron_fires([], T0, last)["expected_fires"] == max(0, (expected - T0) // S + 1)


def test_the_receivers_check_accepts_what_the_service_signs_and_nothing_else() -> None:
    body = b'{"event":"job.completed"}'
    signed = signature(SECRET, 1767225600, body)
    assert signed_by(SECRET, body, "1767225600", signed)
    assert not signed_by(SECRET, body + b" ", "1767225600", signed)
    assert not signed_by(SECRET, body, "1767225601", signed)
    assert not signed_by("whsec_other", body, "1767225600", signed)
    assert not signed_by(SECRET, body, "", "")


def _post(url: str, body: bytes, timestamp: str, signed: str) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-Spooled-Timestamp": timestamp,
        "X-Spooled-Signature": signed,
    }
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_the_receiver_times_signed_completions_and_counts_bad_signatures() -> None:
    arrivals = Arrivals()
    with webhook_receiver(arrivals) as receiver:
        forged = json.dumps({"event": "job.completed", "data": {"job_id": "forged"}}).encode()
        assert _post(receiver.url, forged, "1767225600", "sha256=00") == 200
        good = json.dumps({"event": "job.completed", "data": {"job_id": "j1"}}).encode()
        assert _post(receiver.url, good, "1767225600", signature(SECRET, 1767225600, good)) == 200
    assert receiver.bad_signatures == 1
    assert arrivals.wait("webhook", "j1", timeout=0) is not None
    assert arrivals.wait("webhook", "forged", timeout=0) is None


def test_arrivals_keep_the_first_sighting() -> None:
    arrivals = Arrivals()
    assert arrivals.wait("created", "j1", timeout=0) is None
    arrivals.record("created", "j1")
    first = arrivals.wait("created", "j1", timeout=0)
    arrivals.record("created", "j1")  # a repeated frame (a retried stream batch) is not a new arrival
    assert first is not None and arrivals.wait("created", "j1", timeout=0) == first


def _row(what: str, median: float, missing: int) -> dict[str, Any]:
    return {
        "what": what,
        "count": 40,
        "median_ms": median,
        "p95_ms": median * 2,
        "max_ms": median * 3,
        "median_x_baseline": median / 50,
        "missing": missing,
    }


def test_the_report_section_gives_each_latency_its_ratio_and_the_fire_accounting() -> None:
    section = "\n".join(
        event_latency_section(
            {
                "baseline": {"what": "GET", "count": 120, "median_ms": 50.0, "p95_ms": 70.0, "max_ms": 90.0},
                "latencies": {
                    "cron": _row("cron lateness", 100.0, 1),
                    "created": _row("to JobCreated", 150.0, 0),
                    "webhook": _row("to webhook", 300.0, 2),
                },
                "cron": {
                    "seconds": 40,
                    "jobs": 42,
                    "expected_fires": 39,
                    "missed": 1,
                    "duplicates": 0,
                    "early": 0,
                    "runs_recorded": 42,
                    "failed_runs": 0,
                },
                "bad_signatures": 3,
                "note": "moto serializes every call",
            }
        )
    )
    assert section.startswith("## 7. ")
    assert "| baseline: GET | 120 | 50.0 | 70.0 | 90.0 | 1.0 | - |" in section
    assert "| to webhook | 40 | 300.0 | 600.0 | 900.0 | 6.0 | 2 |" in section
    assert "missed 1, duplicates 0" in section and "bad signature: 3" in section
    assert "moto serializes every call" in section
