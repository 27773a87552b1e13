"""How big each part of the benchmark runs: `full` for `make bench`, `small` for the test that keeps
the benchmark from rotting (same code, same keys, figures too rough to quote).

Sized for these machines (2 shared cores; moto serializes every call, a few ms each): the
full run stays under 10 minutes, the small one under a minute. Contention runs stop at their time
budget when they cannot empty the queue in time; the report says which did.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContentionLevel:
    claimers: int
    jobs: int
    budget_seconds: float


@dataclass(frozen=True)
class Profile:
    name: str
    lifecycle_jobs: int  # per scenario: {spooled, naive} x {single, batched}
    lifecycle_warmup_jobs: int
    contention: tuple[ContentionLevel, ...]
    import_repeats: int
    throughput: tuple[tuple[int, bool, int], ...]  # (workers, batched claims, jobs)
    cron_seconds: int  # part 7: how long the every-second schedule runs
    event_jobs: int  # part 7: jobs timed one at a time for live-update and webhook latency
    local_requests: int = 200  # part 8: timed requests of each kind
    idle_seconds: float = 30.0  # part 8: the idle CPU sample
    shard_counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    flow_jobs: int = 20  # part 9: jobs claimed and completed per flow-control scenario
    # Per payload class (tiny, incompressible, github) and for heartbeats: as many jobs as the
    # realistic class (lifecycle_jobs), so the stream's per-batch writes (~15 WRU for counters,
    # activity and marks) spread over the same number of jobs in every class: at 20 they added 0.7
    # per job to these classes against 0.15 to the realistic one.
    class_jobs: int = 100
    scale_jobs: int = 20_000  # part 6, measured: jobs per scenario (one queue; one org)
    scale_org_queues: int = 50
    # Part 6 stops a scenario at its next delivery past this many seconds (the report says so):
    # moto's speed here swings 5x with the machine's load.
    scale_budget_seconds: float | None = None
    only_store_parts: bool = False  # `quick`: parts 1-3 and 6 only; the rest carried over


FULL = Profile(
    name="full",
    lifecycle_jobs=100,
    lifecycle_warmup_jobs=5,
    contention=(
        ContentionLevel(1, 40, 15.0),
        ContentionLevel(4, 80, 15.0),
        # 40 claims per claimer: the figure is a busy queue's, so each claimer's first lost races
        # (how its claim policy learns there is contention) and the last few jobs per shard must
        # not be most of the sample. At 12 claims each (192 jobs) they were: 0.21-0.30 wasted per
        # claim against 0.075 with 640 jobs, on the same code and machine.
        ContentionLevel(16, 640, 60.0),
        ContentionLevel(64, 256, 15.0),
    ),
    import_repeats=7,
    # The 16-worker runs three times each: their median is the headline figure (bench/local_speed.py).
    throughput=(
        (1, False, 40),
        (4, False, 80),
        (16, False, 160),
        (16, False, 160),
        (16, False, 160),
        (1, True, 100),
        (4, True, 200),
        (16, True, 400),
        (16, True, 400),
        (16, True, 400),
    ),
    cron_seconds=40,
    event_jobs=40,
)

SMALL = Profile(
    name="small",
    lifecycle_jobs=6,
    lifecycle_warmup_jobs=1,
    contention=(ContentionLevel(16, 48, 3.0),),
    import_repeats=2,
    throughput=((16, False, 16), (16, True, 32)),
    cron_seconds=3,
    event_jobs=3,
    local_requests=10,
    idle_seconds=3.0,
    flow_jobs=3,
    class_jobs=5,
    scale_jobs=200,
    scale_org_queues=2,
)

# `python -m bench --profile quick` (make bench-quick): just the store figures (payload classes,
# claim round trips and read units, heartbeat, contention at 16 and 64, the measured scale model);
# imports, local throughput, event latency, make dev speed and flow control are carried over from
# the previous latest.json. The scale model runs 5,000 jobs per scenario here (~40-60 lifecycles/s
# on these machines); `full` runs issue 11's 20,000. --scale-jobs overrides either.
QUICK = Profile(
    name="quick",
    lifecycle_jobs=100,
    lifecycle_warmup_jobs=5,
    contention=(ContentionLevel(16, 640, 60.0), ContentionLevel(64, 256, 15.0)),  # see FULL
    import_repeats=0,
    throughput=(),
    cron_seconds=0,
    event_jobs=0,
    scale_jobs=5_000,
    scale_org_queues=50,
    scale_budget_seconds=900.0,
    only_store_parts=True,
)

PROFILES = {profile.name: profile for profile in (FULL, SMALL, QUICK)}
