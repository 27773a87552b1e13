"""The retry backoff policy: delays per retry, bounds, and how job/queue/default settings combine."""

from __future__ import annotations

import random

import pytest

from shared.jobs.backoff import DEFAULT_BACKOFF, BackoffPolicy, resolve

NO_JITTER = {"jitter_ms": 0}


class FixedDraw(random.Random):
    """randrange(n) always returns `value` (clamped into range), so jitter is known."""

    def __init__(self, value: int) -> None:
        super().__init__(0)
        self.value = value

    def randrange(self, stop: int, *args: object, **kwargs: object) -> int:  # type: ignore[override]
        return min(self.value, stop - 1)


@pytest.mark.parametrize(
    ("policy", "retries_so_far", "expected_ms"),
    [
        # The default is the reference server's: 1, 2, 4, ... s, capped at 60 s.
        (BackoffPolicy(**NO_JITTER), 0, 1_000),
        (BackoffPolicy(**NO_JITTER), 1, 2_000),
        (BackoffPolicy(**NO_JITTER), 2, 4_000),
        (BackoffPolicy(**NO_JITTER), 5, 32_000),
        (BackoffPolicy(**NO_JITTER), 6, 60_000),
        (BackoffPolicy(**NO_JITTER), 7, 60_000),
        (BackoffPolicy(**NO_JITTER), 100, 60_000),
        (BackoffPolicy(base_seconds=2, factor=3, cap_seconds=30, jitter_ms=0), 0, 2_000),
        (BackoffPolicy(base_seconds=2, factor=3, cap_seconds=30, jitter_ms=0), 1, 6_000),
        (BackoffPolicy(base_seconds=2, factor=3, cap_seconds=30, jitter_ms=0), 2, 18_000),
        (BackoffPolicy(base_seconds=2, factor=3, cap_seconds=30, jitter_ms=0), 3, 30_000),
        (BackoffPolicy(base_seconds=0.25, factor=1, cap_seconds=60, jitter_ms=0), 9, 250),
        (BackoffPolicy(base_seconds=0, factor=2, cap_seconds=60, jitter_ms=0), 4, 0),
        # factor 10 and 100 retries would overflow a float without the exponent bound.
        (BackoffPolicy(base_seconds=1, factor=10, cap_seconds=86400, jitter_ms=0), 100, 86_400_000),
        # A negative count (a corrupt item) is treated as the first retry, not as a fraction.
        (BackoffPolicy(**NO_JITTER), -3, 1_000),
    ],
)
def test_delay_for_each_retry(policy: BackoffPolicy, retries_so_far: int, expected_ms: int) -> None:
    assert policy.delay_ms(retries_so_far, random.Random(1)) == expected_ms


@pytest.mark.parametrize(("draw", "expected_ms"), [(0, 4_000), (250, 4_250), (499, 4_499), (10_000, 4_499)])
def test_jitter_adds_up_to_jitter_ms_minus_one(draw: int, expected_ms: int) -> None:
    assert DEFAULT_BACKOFF.delay_ms(2, FixedDraw(draw)) == expected_ms


def test_jitter_spreads_retries_of_the_same_step() -> None:
    rng = random.Random(42)
    delays = {DEFAULT_BACKOFF.delay_ms(0, rng) for _ in range(200)}
    assert min(delays) >= 1_000 and max(delays) <= 1_499
    assert len(delays) > 50  # jitter, not a constant


@pytest.mark.parametrize(
    "fields",
    [
        {"base_seconds": -1},
        {"base_seconds": 3601},
        {"factor": 0.5},
        {"factor": 11},
        {"cap_seconds": -1},
        {"cap_seconds": 86401},
        {"jitter_ms": -1},
        {"jitter_ms": 60_001},
    ],
)
def test_out_of_bounds_policies_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("job", "queue", "expected"),
    [
        (None, None, DEFAULT_BACKOFF),
        (None, {"base_seconds": 5}, BackoffPolicy(base_seconds=5)),
        ({"factor": 3}, {"base_seconds": 5}, BackoffPolicy(base_seconds=5, factor=3)),
        (
            {"base_seconds": 2},
            {"base_seconds": 5, "cap_seconds": 10},
            BackoffPolicy(base_seconds=2, cap_seconds=10),
        ),
        # Unknown keys are ignored; a broken level is skipped, the others still apply.
        ({"colour": "red"}, None, DEFAULT_BACKOFF),
        ({"factor": "fast"}, {"cap_seconds": 7}, BackoffPolicy(cap_seconds=7)),
        ({"factor": 3}, {"factor": 99}, BackoffPolicy(factor=3)),
        ({"base_seconds": True}, None, DEFAULT_BACKOFF),
        (["not", "an", "object"], None, DEFAULT_BACKOFF),
        ({}, {}, DEFAULT_BACKOFF),
    ],
)
def test_job_settings_override_queue_settings_override_the_default(
    job: object, queue: object, expected: BackoffPolicy
) -> None:
    assert resolve(job, queue) == expected  # type: ignore[arg-type]


def test_document_round_trip() -> None:
    policy = BackoffPolicy(base_seconds=1.5, factor=2.5, cap_seconds=90, jitter_ms=10)
    assert DEFAULT_BACKOFF.overridden_by(policy.to_document()) == policy
