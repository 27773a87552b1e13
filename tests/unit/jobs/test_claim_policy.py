"""The claim policy: strict order without contention, a random spread over the head with it."""

from __future__ import annotations

import random

import pytest

from shared.jobs import claim_policy as cp


@pytest.mark.parametrize(
    ("spread", "lost_races", "expected"),
    [
        (1.0, 0, 1.0),  # no contention stays strict
        (1.0, 1, 8.0),  # a lost race multiplies the spread by 8
        (1.0, 2, 64.0),  # two lost races in one call, by 64
        (2.0, 5, 64.0),  # capped
        (20.0, 0, 19.0),  # a clean call shrinks it by 5%
        (1.02, 0, 1.0),  # never below strict order
    ],
)
def test_next_spread(spread: float, lost_races: int, expected: float) -> None:
    assert cp.next_spread(spread, lost_races) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("ready_shards", "expected"),
    [
        (1, 1.0),  # an unsharded queue starts in strict order
        (2, 8.0),  # a sharded one as if a race were already lost
        (64, 8.0),
    ],
)
def test_initial_spread(ready_shards: int, expected: float) -> None:
    assert cp.initial_spread(ready_shards) == expected


@pytest.mark.parametrize(
    ("want", "spread", "window", "fetch"),
    [
        (1, 1.0, 1, 25),  # spare candidates even without contention
        (1, 16.0, 16, 40),
        (10, 1.0, 10, 34),
        (10, 4.0, 40, 64),
        (30, 2.0, 60, 90),
        (100, 64.0, 6400, 100),  # one query page at most
    ],
)
def test_window_and_fetch(want: int, spread: float, window: int, fetch: int) -> None:
    assert cp.window_size(want, spread) == window
    assert cp.candidates_to_fetch(want, spread) == fetch


def test_without_contention_claims_follow_priority_order() -> None:
    candidates = list(range(20))
    assert cp.claim_order(candidates, 5, 1.0, random.Random(1)) == candidates


def test_with_contention_the_window_is_shuffled_and_the_rest_kept_in_order() -> None:
    candidates = list(range(50))
    order = cp.claim_order(candidates, 2, 8.0, random.Random(7))
    assert sorted(order[:16]) == list(range(16))
    assert order[:16] != list(range(16))
    assert order[16:] == list(range(16, 50))


def test_two_claimers_under_contention_usually_start_at_different_jobs() -> None:
    # The point of the spread: 16 claimers that all saw the same head rarely pick the same job.
    rng = random.Random(42)
    candidates = list(range(100))
    collisions = 0
    trials = 200
    for _ in range(trials):
        firsts = [cp.claim_order(candidates, 1, 64.0, rng)[0] for _ in range(16)]
        collisions += len(firsts) - len(set(firsts))
    assert collisions / (trials * 16) < 0.25


def test_after_a_lost_race_the_rest_is_reshuffled() -> None:
    remaining = list(range(30))
    reshuffled = cp.after_first_lost_race(remaining, random.Random(3))
    assert sorted(reshuffled) == remaining
    assert reshuffled != remaining


@pytest.mark.parametrize(("want", "budget"), [(1, 3), (10, 12), (100, 102)])
def test_lost_race_budget(want: int, budget: int) -> None:
    assert cp.lost_race_budget(want) == budget


def test_an_own_claim_is_skipped_until_the_memory_or_its_lease_ends() -> None:
    own: dict[str, int] = {}
    cp.remember_claim(own, "job-1", now_ms=10_000, lease_expires_ms=40_000)
    assert cp.claimed_moments_ago(own, "job-1", 10_999)
    assert not cp.claimed_moments_ago(own, "job-1", 10_000 + cp.OWN_CLAIM_MEMORY_MS)
    assert not cp.claimed_moments_ago(own, "job-2", 10_500)
    # A lease shorter than the memory: the job may be handed out again when it ends.
    cp.remember_claim(own, "job-3", now_ms=10_000, lease_expires_ms=10_400)
    assert not cp.claimed_moments_ago(own, "job-3", 10_400)


def test_the_own_claim_memory_drops_what_expired_once_it_is_large() -> None:
    own = {f"old-{n}": 5_000 for n in range(cp.OWN_CLAIM_PRUNE_AT)}
    cp.remember_claim(own, "new", now_ms=10_000, lease_expires_ms=60_000)
    assert own == {"new": 10_000 + cp.OWN_CLAIM_MEMORY_MS}


def test_a_claim_reads_the_shards_of_a_queue_in_a_random_order() -> None:
    assert cp.shard_order(1, random.Random(1)) == [0]
    orders = [cp.shard_order(8, random.Random(seed)) for seed in range(200)]
    assert all(sorted(order) == list(range(8)) for order in orders)  # every shard, once
    # After a given first shard, any other is as likely second: not always the next one, so a dry
    # shard's claimers do not all land on its neighbour.
    seconds = {order[1] for order in orders if order[0] == 3}
    assert len(seconds) >= 5
