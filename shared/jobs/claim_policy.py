"""Which ready jobs a claim tries, and in what order: pure functions, randomness passed in.

Every claimer reads the same head of the ready index, so if all of them tried the head first they
would all race for the same item and all but one would waste a conditional write. With no
contention a claim takes jobs strictly in priority/FIFO order. Under contention:
- after its first lost race in a call, a claimer tries the rest of what it read in random order
  (in order, every loser would go for the same next job and lose again together);
- the process remembers the contention per queue as a spread: later claims shuffle their attempts
  over a window of the first `want * spread` candidates. Each race lost in a call multiplies the
  spread by 8 (two at most count), and a call that lost none shrinks it by 5%. Growing fast and
  shrinking slowly settles where about one call in forty loses a race (8 weighs as much as ~40
  decays: ln 8 / ln(1/0.95)), whatever the number of claimers, while a lone worker, which never
  loses a race, keeps strict order. Measured with `make bench` (docs/benchmarks.md);
- a call gives up after `want + 2` lost races and returns what it has: by then its snapshot of the
  head is stale, and the next poll reads a fresh one more cheaply than more failed writes;
- a store's first claim on a queue with several ready shards starts at spread GROWTH, as if it
  had lost one race (initial_spread): such a queue is configured for many claimers, and a fleet of
  new containers in strict order would all go for the heads of the same shards.

Own claims: the ready index lags the table (a GSI, usually under a second), so a worker that claims
again soon after a claim can read the jobs it has just taken as candidates. A store remembers the
jobs it claimed for OWN_CLAIM_MEMORY_MS (never past their lease, after which a job may be handed out
again; a failure through the same store forgets it at once) and does not spend a conditional write
on them: that write could only fail. A job is remembered from just before its claim write (and
forgotten if the write fails), so where one store serves many claimers at once (the threads of
`make dev`'s gateway, one process standing in for many Lambda containers), a claim also skips what
another thread is claiming or just took, and such skips widen the spread as lost races do. Nothing
else is skipped, and the conditional write stays the only guard.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_SPREAD = 64.0
GROWTH = 8.0
DECAY = 0.95
# Read at least this many candidates, so a claimer that loses the head has somewhere else to go.
MIN_SPARE_CANDIDATES = 24
# How long a store skips a job it claimed: past the index's usual lag behind the table.
OWN_CLAIM_MEMORY_MS = 1000
# Past this many remembered claims, the expired ones are dropped (a bound, not a limit).
OWN_CLAIM_PRUNE_AT = 4096


def shard_order(ready_shards: int, rng: random.Random) -> list[int]:
    """The order in which a claim reads a queue's ready shards (it stops once it has candidates):
    random, so that the claimers of a shard that ran dry spread over all the others rather than
    piling onto the one after it while the queue drains unevenly."""
    if ready_shards <= 1:
        return [0]
    order = list(range(ready_shards))
    rng.shuffle(order)
    return order


def initial_spread(ready_shards: int) -> float:
    """A store's spread for a queue before its first claim there. A queue spread over several ready
    shards is one its operator expects many claimers on (docs/architecture.md, "Scale"), so a new
    container starts as if it had lost one race: when a fleet of them starts at once, strict order
    would send every one that read the same shards to the same head."""
    return GROWTH if ready_shards > 1 else 1.0


def next_spread(spread: float, lost_races: int) -> float:
    if lost_races > 0:
        return min(spread * GROWTH ** min(lost_races, 2), MAX_SPREAD)
    return max(1.0, spread * DECAY)


def window_size(want: int, spread: float) -> int:
    return max(want, math.ceil(want * spread))


def candidates_to_fetch(want: int, spread: float) -> int:
    """How many candidates to read: the window plus room to replace the races we lose."""
    return min(100, window_size(want, spread) + max(want, MIN_SPARE_CANDIDATES))


def lost_race_budget(want: int) -> int:
    return want + 2


def claim_order(candidates: Sequence[T], want: int, spread: float, rng: random.Random) -> list[T]:
    """Candidates (already in priority/FIFO order) in the order a claim should try them."""
    window = min(len(candidates), window_size(want, spread))
    if spread <= 1.0 or window <= want:
        return list(candidates)
    head = list(candidates[:window])
    rng.shuffle(head)
    return head + list(candidates[window:])


def remember_claim(own: dict[str, int], job_id: str, now_ms: int, lease_expires_ms: int) -> None:
    """Note a job this store claimed: skipped until OWN_CLAIM_MEMORY_MS from now, or its lease end
    if sooner (from then on it may be claimable again)."""
    if len(own) >= OWN_CLAIM_PRUNE_AT:
        for stale in [job for job, until in own.items() if until <= now_ms]:
            del own[stale]
    own[job_id] = min(now_ms + OWN_CLAIM_MEMORY_MS, lease_expires_ms)


def claimed_moments_ago(own: dict[str, int], job_id: str, now_ms: int) -> bool:
    until = own.get(job_id)
    return until is not None and now_ms < until


def after_first_lost_race(remaining: Sequence[T], rng: random.Random) -> list[T]:
    """The untried candidates, reshuffled: the other losers of this race are heading down the
    same list in the same order."""
    shuffled = list(remaining)
    rng.shuffle(shuffled)
    return shuffled
