"""The partition-limit model and the evenness test of the shard spread, case by case."""

from __future__ import annotations

import pytest

from bench import scale_model as sm

READY = sm.PartitionLoad("ready", write_units_per_job=2.0, read_units_per_job=0.5, sharded=True)
TIMERS = sm.PartitionLoad("timers", write_units_per_job=2.0, read_units_per_job=0.5, sharded=False)
LISTING = sm.PartitionLoad("by_queue", write_units_per_job=1.0, read_units_per_job=0.0, sharded=False)


@pytest.mark.parametrize(
    ("loads", "shards", "rate", "bottleneck"),
    [
        ([READY], 1, 500.0, "ready"),  # 1,000 units/s over 2 units per job
        ([READY], 4, 2000.0, "ready"),  # four partitions share the writes
        ([READY], 64, 6000.0, "ready"),  # reads do not shrink: every claim reads every shard
        ([READY, TIMERS], 4, 500.0, "timers"),  # an unsharded partition caps the queue
        ([READY, LISTING], 1, 500.0, "ready"),
        ([READY, LISTING], 4, 1000.0, "by_queue"),
        ([], 4, float("inf"), "none"),
    ],
)
def test_sustainable_rate(loads: list[sm.PartitionLoad], shards: int, rate: float, bottleneck: str) -> None:
    assert sm.sustainable_jobs_per_second(loads, shards) == (pytest.approx(rate), bottleneck)


def test_model_rows() -> None:
    assert sm.model([READY, LISTING], [1, 2]) == [
        {"shards": 1, "jobs_per_second": 500.0, "bottleneck": "ready"},
        {"shards": 2, "jobs_per_second": 1000.0, "bottleneck": "ready"},
    ]


@pytest.mark.parametrize(
    ("statistic", "df", "p"),
    [  # the textbook critical values
        (3.841, 1, 0.05),
        (5.991, 2, 0.05),
        (7.815, 3, 0.05),
        (9.488, 4, 0.05),
        (16.266, 3, 0.001),
        (0.0, 3, 1.0),
    ],
)
def test_chi_square_tail(statistic: float, df: int, p: float) -> None:
    assert sm.chi_square_tail(statistic, df) == pytest.approx(p, abs=5e-4)


@pytest.mark.parametrize(
    ("counts", "even"),
    [
        ([25, 25, 25, 25], True),
        ([30, 22, 24, 24], True),  # noise
        ([70, 10, 10, 10], False),  # one shard drained first
        ([34, 33, 33, 0], False),  # a shard never claimed from
    ],
)
def test_shard_spread(counts: list[int], even: bool) -> None:
    assert sm.shard_spread(counts)["even"] is even
