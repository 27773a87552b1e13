"""Flow-control limits from a queue's configuration, and how they are sharded (docs/flow-control.md)."""

from __future__ import annotations

import json

from shared.jobs.flow_control import NO_LIMITS, FlowLimits, slot_shard


def _config(rate_limit: object = None, **settings: object) -> dict[str, object]:
    return {"rate_limit": rate_limit, "settings": json.dumps(settings)}


def test_a_queue_without_limits_has_none() -> None:
    assert FlowLimits.of(None) is NO_LIMITS
    assert FlowLimits.of(_config()) is NO_LIMITS
    assert not NO_LIMITS.active


def test_limits_come_from_rate_limit_and_settings() -> None:
    limits = FlowLimits.of(_config(5, max_concurrency=3, rate_limit_burst=10))
    assert limits == FlowLimits(rate_limit=5, burst=10, max_concurrency=3)
    assert limits.active


def test_values_that_are_not_positive_integers_are_ignored() -> None:
    assert FlowLimits.of(_config(0, max_concurrency=-1)) is NO_LIMITS
    assert FlowLimits.of(_config(None, max_concurrency=True)) is NO_LIMITS
    assert FlowLimits.of(_config(None, max_concurrency="3")) is NO_LIMITS
    assert FlowLimits.of(_config(2.5, max_concurrency=2.0)) == FlowLimits(max_concurrency=2)


def test_shards_grow_with_the_limits_and_their_slots_add_up_to_the_cap() -> None:
    assert FlowLimits(rate_limit=5).rate_shards == 1
    assert FlowLimits(rate_limit=1000).rate_shards == 4
    assert FlowLimits(max_concurrency=3).slot_shards == 1
    for cap in (1, 3, 31, 32, 33, 100, 1000, 10_000):
        limits = FlowLimits(max_concurrency=cap)
        assert sum(limits.shard_capacity(s) for s in range(limits.slot_shards)) == cap


def test_a_job_always_hashes_to_the_same_slot_shard() -> None:
    assert slot_shard("job-1", 1) == 0
    assert slot_shard("job-1", 8) == slot_shard("job-1", 8)
    assert {slot_shard(f"job-{n}", 4) for n in range(100)} == {0, 1, 2, 3}
