"""Which ready jobs a claim tries, and in what order: pure functions, randomness passed in.

Every claimer reads the same head of the ready index, so if all of them tried the head first they
would all race for the same item and all but one would waste a conditional write. With no
contention a claim takes jobs strictly in priority/FIFO order. When this process has seen lost
races recently, it spreads its attempts at random over a window of the first `want * spread`
candidates. The spread doubles after a claim that lost a race and decays by 10% after one that
did not, which settles where about one claim in eight loses a race, whatever the number of
claimers (doubling weighs as much as ~6.6 decays: ln 2 / ln(1/0.9)).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_SPREAD = 64.0
GROWTH = 2.0
DECAY = 0.9


def next_spread(spread: float, lost_races: int) -> float:
    if lost_races > 0:
        return min(spread * GROWTH, MAX_SPREAD)
    return max(1.0, spread * DECAY)


def window_size(want: int, spread: float) -> int:
    return max(want, math.ceil(want * spread))


def candidates_to_fetch(want: int, spread: float) -> int:
    """How many candidates to read: the window plus room to replace the races we lose."""
    return min(100, window_size(want, spread) + want)


def claim_order(candidates: Sequence[T], want: int, spread: float, rng: random.Random) -> list[T]:
    """Candidates (already in priority/FIFO order) in the order a claim should try them."""
    window = min(len(candidates), window_size(want, spread))
    if spread <= 1.0 or window <= want:
        return list(candidates)
    head = list(candidates[:window])
    rng.shuffle(head)
    return head + list(candidates[window:])
