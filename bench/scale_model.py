"""Part 6: how many jobs per second one queue can sustain, from DynamoDB's per-partition limits and
the units a job lifecycle was measured to put on each index partition; and a test that claims
draw evenly from the ready shards.

A partition takes at most 1,000 write units and 3,000 read units per second. A job's entries in the
ready index are spread over the queue's shards, so that index's write load per partition falls
with the shard count; every other index partition a job writes holds a whole queue (timers,
by_queue) or a whole organization (by_org), whatever the shard count. Reads: every claim queries
each ready shard once, so a shard's read load does not fall with more shards. Split-for-heat does
not rescue these partitions: their sort keys grow with time, so the writes always land at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PARTITION_WRITE_UNITS = 1000.0
PARTITION_READ_UNITS = 3000.0


@dataclass(frozen=True)
class PartitionLoad:
    """What one job puts on a group of index partitions."""

    name: str
    write_units_per_job: float  # over the whole group; spread evenly if `sharded`
    read_units_per_job: float  # on each partition of the group (every claim reads every shard)
    sharded: bool  # one partition per ready shard, else one partition for the queue (or org)


def sustainable_jobs_per_second(loads: Sequence[PartitionLoad], shards: int) -> tuple[float, str]:
    """The highest steady job rate no partition throttles at, and the partition that sets it."""
    best, bottleneck = math.inf, "none"
    for load in loads:
        partitions = shards if load.sharded else 1
        limits = []
        if load.write_units_per_job > 0:
            limits.append(PARTITION_WRITE_UNITS / (load.write_units_per_job / partitions))
        if load.read_units_per_job > 0:
            limits.append(PARTITION_READ_UNITS / load.read_units_per_job)
        for limit in limits:
            if limit < best:
                best, bottleneck = limit, load.name
    return best, bottleneck


def model(loads: Sequence[PartitionLoad], shard_counts: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    for shards in shard_counts:
        rate, bottleneck = sustainable_jobs_per_second(loads, shards)
        rows.append({"shards": shards, "jobs_per_second": round(rate, 1), "bottleneck": bottleneck})
    return rows


# --- do claims draw evenly from the shards? ------------------------------------------------


def chi_square_tail(statistic: float, df: int) -> float:
    """P(X >= statistic) for X chi-square distributed with df degrees of freedom, in closed form
    (the regularized upper incomplete gamma at integer and half-integer df/2)."""
    half = statistic / 2
    if df % 2 == 0:
        return math.exp(-half) * sum(half**i / math.factorial(i) for i in range(df // 2))
    tail = math.erfc(math.sqrt(half))
    tail += math.exp(-half) * sum(half ** (i - 0.5) / math.gamma(i + 0.5) for i in range(1, (df + 1) // 2))
    return min(1.0, tail)


def chi_square_p_value(counts: Sequence[int]) -> float:
    """Pearson's test that every bucket is equally likely."""
    total, k = sum(counts), len(counts)
    if k < 2 or total == 0:
        return 1.0
    expected = total / k
    return chi_square_tail(sum((c - expected) ** 2 / expected for c in counts), k - 1)


def shard_spread(claims_by_shard: Sequence[int], significance: float = 0.001) -> dict[str, Any]:
    p_value = chi_square_p_value(claims_by_shard)
    expected = sum(claims_by_shard) / len(claims_by_shard) if claims_by_shard else 0.0
    deviation = max((abs(c - expected) / expected for c in claims_by_shard), default=0.0) if expected else 0.0
    return {
        "claims_by_shard": list(claims_by_shard),
        "max_deviation_from_even": round(deviation, 3),
        "chi_square_p_value": round(p_value, 4),
        "even": bool(p_value >= significance and all(claims_by_shard)),
        "significance": significance,
    }
