"""Part 6, measured: how many jobs per second one queue (and one organization) can sustain.

Jobs go through the real code (the API Lambda handler, the store, the stream into the dispatcher,
the timer messages back into it) on in-process moto, with the meter recording the partition key
of every write and read. Nothing here knows the store's layout: the table's key and its indexes
come from shared/plumbing/schema.py (JOBS_TABLE), and each write's partitions from the items
themselves, before and after it (bench/capacity.py): the table partition from the item's key; an
index partition from the item's attributes named by that index's partition key, so a write that
adds an index entry is a put on its partition, one that removes it a delete there, and one that
changes its key a delete on the old partition and a put on the new. Reads go to the partition their
key (GetItem, BatchGetItem) or key condition (Query) names. The busiest partition's units per job
then give the rate at which it reaches DynamoDB's per-partition limits (1,000 write units/s,
3,000 read units/s); the lowest such rate over all partitions is the ceiling, and its partition
is named.

Workload: bulk creates of 100, claims with limit 10 (one worker), one complete per job (SDK 1.6.0
has no bulk complete), realistic 1 KB payloads. `queue`: every job in one queue of one
organization; `org`: the same jobs spread round-robin over `org_queues` queues of one organization.

Speed: moto runs with the local stack's exact shortcuts (local_stack/moto_speedups.py: no sort of
the whole table per query, index queries from per-partition buckets), item images are read from
moto's memory rather than through a metered-out GetItem, and between rounds the items of jobs that
have completed are dropped from moto's memory (not through the API, not metered), so moto's scans
stay short and the partition loads per job do not depend on how many old jobs the table holds.
Which items those are is found from the job ids the API returned, not from the store's key format.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from bench import capacity, lifecycle, payloads, sandbox
from bench.meter import ImageReader, Meter
from bench.scale_model import PARTITION_READ_UNITS, PARTITION_WRITE_UNITS

ROUND = 100  # jobs per bulk create
DELIVER_EVERY = 10  # rounds between stream/timer deliveries (and prunes)
# The goals' rates (issue 11): the busiest partition's load is also given at these.
GOAL_RATES = {"queue": 10_000, "org": 50_000}
_TOKENS = re.compile(r"[^#|:/]+")  # the pieces of a composite key value
log = logging.getLogger("bench")


class MotoImageReader(ImageReader):
    """Item images straight from moto's in-process backend: the same bytes, many times faster
    than a metered-out GetItem, which is what makes 20,000 jobs affordable. The jobs table's shape
    is schema.JOBS_TABLE's."""

    def __init__(self, client: Any, shapes: dict[str, capacity.TableShape]) -> None:
        super().__init__(client)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self._shapes.update(shapes)
        self._backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def get(self, table: str, key: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        moto_table = self._backend.get_table(table)
        range_attr = moto_table.range_key_attr
        item = moto_table.get_item(
            DynamoType(key[moto_table.hash_key_attr]), DynamoType(key[range_attr]) if range_attr else None
        )
        return item.to_json()["Attributes"] if item is not None else None

    def prune(self, table: str, job_ids: set[str]) -> int:
        """Forget every item whose key names one of `job_ids` (the job, its payload, anything keyed
        by it): moto's queries then stay fast. Counters, queue configs and the like stay."""
        from local_stack import moto_speedups

        moto_table = self._backend.get_table(table)
        pruned = 0
        for hash_key in list(moto_table.items):
            rows = moto_table.items[hash_key]
            if not isinstance(rows, dict):  # a table without a sort key: one item per hash key
                rows = {None: rows}
            for range_key, item in list(rows.items()):
                values = [item.attrs[name].value for name in self.shape(table).key_attributes]
                if any(token in job_ids for value in values for token in _TOKENS.findall(str(value))):
                    pruned += 1
                    if range_key is None:
                        del moto_table.items[hash_key]
                    else:
                        del rows[range_key]
            if isinstance(moto_table.items.get(hash_key), dict) and not moto_table.items[hash_key]:
                del moto_table.items[hash_key]
        moto_speedups.dynamodb_called("DeleteItem")  # its index buckets must be rebuilt
        return pruned


# The store's sharding at the load the goals ask for (docs/architecture.md, "Scale"): the one hot
# queue spreads its ready jobs over 32 shards (~16,000 jobs/s of ready-index writes), each of the
# organization's 50 queues over 4 (1,000 jobs/s each), and the deployment keeps an organization's
# job items in 256 table partitions (the most a job id's shard byte names): each job writes its
# item ~3 times (create, claim, complete), so ~333 jobs/s a partition, ~85,000 for 256 evenly
# loaded ones (less for the busiest of a random spread). Both are settings a user raises for such
# load; the defaults (1 and 8) are what the other parts of the bench measure.
READY_SHARDS = {"queue": 32, "org": 4}
JOB_SHARDS = 256
# An organization's request limit (SPOOLED_ORG_RATE_LIMIT_PER_MINUTE, 3,000 by default) has to let
# the goal's rate through: this workload makes ~1.11 requests per job (a create per 100, a claim
# per 10, a complete each), so 50,000 jobs/s is ~3.3 million requests a minute, which the default
# refuses 1,000 times over. Each scenario runs with twice what its goal rate needs. The limiter
# adds a container's requests to its window item every tenth of what is left of the limit (a fiftieth
# once it sees other containers; shared/identity/rate_limits.py), so the item's writes per job depend
# on that limit; and the model must run an organization at a rate its own limit allows, or most of
# its requests would be refused.
REQUESTS_PER_JOB = 1 / ROUND + 1 / 10 + 1
ORG_RATE_LIMITS = {name: int(rate * REQUESTS_PER_JOB * 60 * 2) for name, rate in GOAL_RATES.items()}


def _drive(
    jobs: int, queues: list[str], budget_seconds: float | None = None, ready_shards: int = 1
) -> tuple[Meter, int, bool]:
    """Drive `jobs` lifecycles round-robin over `queues`; past `budget_seconds` stop at the next
    delivery (every job driven so far is then complete and delivered). Returns the meter, the jobs
    driven and whether the budget cut the run short."""
    import boto3

    from local_stack.stream_poller import StreamPoller
    from shared.plumbing import schema
    from shared.plumbing.config import settings

    table = settings().table_name
    tenant = sandbox.seed_tenant("bench-scale")
    poller = StreamPoller(table, lambda records: None)
    poller.poll_once()
    shape = capacity.shape_from_definition(schema.JOBS_TABLE, table)
    images = MotoImageReader(boto3.session.Session().client("dynamodb"), {table: shape})
    meter = Meter(images)
    records: list[dict[str, Any]] = []
    poller.deliver = records.extend
    driver = lifecycle.ApiDriver(lifecycle.SPOOLED.handler(), tenant.api_key, meter)
    if ready_shards > 1:
        for queue in queues:
            body = {"settings": {"ready_shards": ready_shards}}
            driver.post(f"/api/v1/queues/{queue}/config", body, "configure", method="PUT")
    sent = 0
    done = 0
    completed: set[str] = set()
    started = time.perf_counter()
    rounds = (jobs + ROUND - 1) // ROUND
    with meter.installed():
        for n in range(rounds):
            queue = queues[n % len(queues)]
            size = min(ROUND, jobs - done)
            completed.update(
                lifecycle.run_lifecycles(
                    driver, queue, size, True, lambda i, base=done: payloads.realistic(base + i)
                )
            )
            done += size
            if (n + 1) % DELIVER_EVERY and n != rounds - 1:
                continue
            for _ in range(5):
                lifecycle.deliver_stream(meter, poller, records)
                total = lifecycle.deliver_timers(meter, sent)
                if total == sent:
                    break
                sent = total
            images.prune(table, completed)
            completed.clear()
            elapsed = time.perf_counter() - started
            log.info("    %d/%d jobs, %.0f jobs/s", done, jobs, done / elapsed)
            if budget_seconds is not None and elapsed > budget_seconds and done < jobs:
                log.info("    time budget of %.0f s reached: %d jobs", budget_seconds, done)
                return meter, done, True
    return meter, done, False


def ceiling(meter: Meter, jobs: int, goal_rate: float | None = None) -> dict[str, Any]:
    """The highest job rate at which no partition passes its limits, the partition that sets it,
    and the busiest partition's share of all writes (and its load at `goal_rate` jobs/s)."""
    loads = lifecycle.partition_units(meter)
    rows = []
    for (where, partition), (writes, reads) in loads.items():
        limits = []
        if writes:
            limits.append((PARTITION_WRITE_UNITS * jobs / writes, "writes"))
        if reads:
            limits.append((PARTITION_READ_UNITS * jobs / reads, "reads"))
        if not limits:
            continue
        rate, by = min(limits)
        rows.append(
            {
                "where": where,
                "partition": partition,
                "write_units_per_job": round(writes / jobs, 5),
                "read_units_per_job": round(reads / jobs, 5),
                "jobs_per_second": round(rate, 1),
                "limited_by": by,
            }
        )
    if not rows:
        raise lifecycle.BenchError("the scale model saw no DynamoDB units at all")
    rows.sort(key=lambda row: row["jobs_per_second"])
    total_writes = sum(w for w, _ in loads.values())
    busiest_key, (busiest_writes, _) = max(loads.items(), key=lambda kv: kv[1][0])
    limiting = rows[0]
    busiest = {
        "where": busiest_key[0],
        "partition": busiest_key[1],
        "share_of_all_writes": round(busiest_writes / total_writes, 4) if total_writes else 0.0,
        "write_units_per_job": round(busiest_writes / jobs, 5),
    }
    if goal_rate:
        busiest["goal_jobs_per_second"] = goal_rate
        busiest["write_units_per_second_at_goal"] = round(busiest_writes / jobs * goal_rate, 1)
        busiest["times_the_partition_limit_at_goal"] = round(
            busiest_writes / jobs * goal_rate / PARTITION_WRITE_UNITS, 2
        )
    return {
        "jobs": jobs,
        "partitions": len(rows),
        "write_units_per_job": round(total_writes / jobs, 4),
        "jobs_per_second": limiting["jobs_per_second"],
        "limiting_key": f"{limiting['where']} {limiting['partition']} ({limiting['limited_by']})",
        "ceiling_by_kind": _ceiling_by_kind(rows),
        "busiest_write_partition": busiest,
        "hottest": rows[:8],
    }


def _ceiling_by_kind(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The lowest ceiling per kind of partition: an index by its name, a table partition by the
    first word of its key ("table JOB": the job partitions, "table ORG": the counters, ...), so
    each kind's own limit can be read even when another kind sets the overall ceiling."""
    kinds: dict[str, float] = {}
    for row in rows:  # lowest first
        where = row["where"]
        kind = f"table {re.split(r'[#|]', row['partition'], maxsplit=1)[0]}" if where == "table" else where
        kinds.setdefault(kind, row["jobs_per_second"])
    return kinds


@contextlib.contextmanager
def _settings(**env: str) -> Iterator[None]:
    import os

    from shared.plumbing.config import settings

    os.environ.update(env)
    settings.cache_clear()
    try:
        yield
    finally:
        for name in env:
            os.environ.pop(name, None)
        settings.cache_clear()


def _scenario_settings(name: str) -> contextlib.AbstractContextManager[None]:
    return _settings(
        SPOOLED_JOB_SHARDS=str(JOB_SHARDS), SPOOLED_ORG_RATE_LIMIT_PER_MINUTE=str(ORG_RATE_LIMITS[name])
    )


def measure(jobs: int, org_queues: int, budget_seconds: float | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, queues in (("queue", ["scale-q"]), ("org", [f"scale-q{i}" for i in range(org_queues)])):
        started = time.perf_counter()
        log.info("  %s: %d jobs over %d queue(s)", name, jobs, len(queues))
        with sandbox.in_process_aws(fast=True), _scenario_settings(name):
            meter, done, cut = _drive(jobs, queues, budget_seconds, READY_SHARDS[name])
            results[name] = {
                **ceiling(meter, done, GOAL_RATES[name]),
                "queues": len(queues),
                "ready_shards_per_queue": READY_SHARDS[name],
                "job_shards": JOB_SHARDS,
                "org_rate_limit_per_minute": ORG_RATE_LIMITS[name],
            }
        results[name]["jobs_asked"] = jobs
        results[name]["stopped_at_time_budget"] = cut
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
    return {
        "queue_ceiling_jobs_per_second": results["queue"]["jobs_per_second"],
        "queue_limiting_key": results["queue"]["limiting_key"],
        "org_ceiling_jobs_per_second": results["org"]["jobs_per_second"],
        "org_limiting_key": results["org"]["limiting_key"],
        "runs": results,
        "partition_limits": {
            "write_units_per_second": PARTITION_WRITE_UNITS,
            "read_units_per_second": PARTITION_READ_UNITS,
        },
    }


def main(argv: list[str] | None = None) -> int:
    """python -m bench.scale_measured --jobs 20000 --queues 1 --out FILE: one scenario on its own."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m bench.scale_measured")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--queues", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    sandbox.use_offline_environment()
    started = time.perf_counter()
    scenario = "queue" if args.queues == 1 else "org"
    with sandbox.in_process_aws(fast=True), _scenario_settings(scenario):
        meter, done, _ = _drive(args.jobs, [f"scale-q{i}" for i in range(args.queues)])
        goal = GOAL_RATES[scenario]
        result = {**ceiling(meter, done, goal), "queues": args.queues}
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
