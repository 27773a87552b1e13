"""Dollars from usage: the arithmetic of bench/cost_model.py against hand-computed figures."""

from __future__ import annotations

from collections import Counter

import pytest

from bench import cost_model as cm
from bench.prices import US_EAST_1


def test_a_job_priced_by_hand() -> None:
    usage = cm.JobUsage(
        api_requests=3,
        lambda_requests=3,
        lambda_gb_seconds=0.1,
        write_units=7,
        read_units=4,
        sqs_requests=1,
        s3_put_requests=1,
        s3_get_requests=2,
    )
    cost = cm.usd_per_million_jobs(usage, US_EAST_1)
    assert cost.api_gateway == pytest.approx(3.0)  # $1.00 per million HTTP API requests
    assert cost.lambda_requests == pytest.approx(0.6)
    assert cost.lambda_duration == pytest.approx(0.1 * 0.0000133334 * 1e6)  # arm64
    assert cost.dynamodb_writes == pytest.approx(7 * 0.625)
    assert cost.dynamodb_reads == pytest.approx(4 * 0.125)
    assert cost.sqs == pytest.approx(0.4)
    assert cost.s3 == pytest.approx(5.0 + 0.8)
    assert cost.total == pytest.approx(3.0 + 0.6 + 1.33334 + 4.375 + 0.5 + 0.4 + 5.8)
    assert cost.as_dict()["total"] == pytest.approx(cost.total, abs=1e-4)


@pytest.mark.parametrize(
    ("own_seconds", "calls", "memory_mb", "expected_ms"),
    [
        (0.0, Counter(), 1769, 1),  # never less than the 1 ms Lambda bills at least
        (0.010, Counter(), 1769, 10),  # a full vCPU runs our code at this machine's speed
        (0.010, Counter(), 512, 35),  # a 512 MB share runs it 1769/512 times slower, rounded up
        (0.0, Counter({("dynamodb", "GetItem"): 2}), 1769, 10),
        (0.0, Counter({("dynamodb", "BatchWriteItem"): 1, ("sqs", "SendMessageBatch"): 1}), 1769, 23),
        (0.0, Counter({("lambda", "Invoke"): 1}), 1769, 10),  # services without a figure get 10 ms
    ],
)
def test_billed_duration(
    own_seconds: float, calls: Counter[tuple[str, str]], memory_mb: int, expected_ms: int
) -> None:
    assert cm.billed_ms(own_seconds, calls, memory_mb) == expected_ms


def test_gb_seconds() -> None:
    assert cm.gb_seconds(1000, 512) == 0.5
    assert cm.cpu_slowdown(3008) == 1.0
