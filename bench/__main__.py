"""`make bench` (python -m bench): every part of the benchmark, then bench/results/latest.{json,md}.

python -m bench                   the full run (under 10 minutes on these machines)
python -m bench --profile small   the same code at toy sizes, for tests/bench
python -m bench --out DIR         write the report somewhere else
python -m bench.local_speed       only the `make dev` figures (parts 5 and 8), printed, in about a minute
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    contention,
    event_latency,
    flow_cost,
    goal_analysis,
    imports,
    lifecycle,
    local_speed,
    report,
    sandbox,
    scale_model,
    throughput,
)
from bench.profiles import PROFILES, Profile

RESULTS_DIR = Path(__file__).resolve().parent / "results"
log = logging.getLogger("bench")


@contextmanager
def _part(name: str, timings: dict[str, float]) -> Iterator[None]:
    log.info("%s ...", name)
    started = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - started, 1)
    log.info("%s done in %.0f s", name, timings[name])


def _lifecycle(profile: Profile) -> dict[str, dict[str, Any]]:
    results = {}
    for design in (lifecycle.SPOOLED, lifecycle.NAIVE):
        for batched in (False, True):
            name = f"{design.name}_{'batched' if batched else 'single'}"
            log.info("  %s", name)
            results[name] = lifecycle.measure(
                design, profile.lifecycle_jobs, batched, warmup_jobs=profile.lifecycle_warmup_jobs
            )
    return results


def _contention(profile: Profile) -> list[dict[str, Any]]:
    runs = []
    with sandbox.embedded_aws() as aws:
        for level in profile.contention:
            for algorithm in contention.ALGORITHMS:
                run = contention.run(aws, algorithm, level.claimers, level.jobs, 1, level.budget_seconds)
                log.info("  %s x%d: %.2f wasted/claim", algorithm, level.claimers, run.deep_wasted_per_claim)
                runs.append(run.as_dict())
    return runs


def _throughput(profile: Profile, shards: int) -> dict[str, Any]:
    from shared.jobs import expressions as ex

    log_path = Path(tempfile.mkdtemp(prefix="bench-")) / "local_stack.log"
    runs = throughput.measure(list(profile.throughput), log_path, shards)
    by_shard = [0] * shards
    for run in runs:
        order = run.pop("claim_order")
        for job_id in order[: len(order) // 2]:  # while the queue was still full
            by_shard[ex.shard_of(job_id, shards)] += 1
    return {"runs": runs, "shards": shards, "shard_spread": scale_model.shard_spread(by_shard)}


def _scale(life: dict[str, dict[str, Any]], shard_counts: tuple[int, ...]) -> dict[str, Any]:
    from shared.plumbing import schema

    modes, loads_by_mode = {}, {}
    shards = life["spooled_single"]["ready_shards"]
    for mode in ("single", "batched"):
        indexes = life[f"spooled_{mode}"]["indexes"]
        loads = []
        for name, info in indexes.items():
            sharded = name == schema.READY_INDEX.name
            loads.append(
                scale_model.PartitionLoad(
                    name=f"index {name}",
                    write_units_per_job=(
                        info["write_units_per_job"]
                        if sharded
                        else info["hottest_partition_write_units_per_job"]
                    ),
                    read_units_per_job=info["read_units_per_job"] / (shards if sharded else 1),
                    sharded=sharded,
                )
            )
        modes[mode] = scale_model.model(loads, shard_counts)
        loads_by_mode[mode] = [vars(load) for load in loads]
    rate, bottleneck = scale_model.sustainable_jobs_per_second(
        [scale_model.PartitionLoad(**load) for load in loads_by_mode["batched"]], shards
    )
    return {
        "modes": modes,
        "loads": loads_by_mode,
        "at_configured_shards": {
            "shards": shards,
            "jobs_per_second": round(rate, 1),
            "bottleneck": bottleneck,
        },
        "partition_limits": {
            "write_units_per_second": scale_model.PARTITION_WRITE_UNITS,
            "read_units_per_second": scale_model.PARTITION_READ_UNITS,
        },
        "note": (
            "Per partition: 1,000 write units/s, 3,000 read units/s. Only the ready index is sharded; "
            "the timers and by_queue partitions hold a whole queue and by_org a whole organization, so "
            "past the shard count where the ready index stops being the bottleneck, more shards add nothing."
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[bench] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    # Concurrent claimers share one client whose pool is smaller than their number: not a problem.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    profile = PROFILES[args.profile]
    sandbox.use_offline_environment()
    from shared.plumbing.config import settings

    timings: dict[str, float] = {}
    started = time.perf_counter()
    with _part("4. import times", timings):
        import_results = imports.measure(profile.import_repeats, goal_analysis.goal_for("import_ratio_max"))
    with _part("1-2. request units and cost per job", timings):
        life = _lifecycle(profile)
    with _part("3. claim contention", timings):
        contended = _contention(profile)
    with _part("5. local throughput", timings):
        local = _throughput(profile, settings().ready_shards)
    with _part("7. event latency in make dev", timings):
        log_path = Path(tempfile.mkdtemp(prefix="bench-")) / "local_stack.log"
        events = event_latency.measure(
            log_path, settings().ready_shards, profile.cron_seconds, profile.event_jobs
        )
    with _part("8. make dev speed", timings):
        log_path = Path(tempfile.mkdtemp(prefix="bench-")) / "local_stack.log"
        speed = local_speed.measure(
            log_path, settings().ready_shards, profile.local_requests, profile.idle_seconds
        )
    with _part("9. flow control cost", timings):
        flow = flow_cost.measure(profile.flow_jobs)
    scale = _scale(life, profile.shard_counts)
    meta = {
        "profile": profile.name,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - started, 1),
        "part_seconds": timings,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": ", ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    results = report.build(life, contended, import_results, local, scale, meta, events, speed, flow)
    json_path, md_path = report.write(results, args.out)
    log.info("wrote %s and %s in %.0f s", json_path, md_path, meta["seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
