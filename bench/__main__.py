"""`make bench` (python -m bench): every part of the benchmark, then bench/results/latest.{json,md}.

python -m bench                   the full run (under 10 minutes on these machines)
python -m bench --profile small   the same code at toy sizes, for tests/bench
python -m bench --profile quick   only the store figures (parts 1-3, 6); the rest carried over
python -m bench --out DIR         write the report somewhere else
python -m bench.local_speed       only the `make dev` figures (parts 5 and 8), printed, in about a minute
"""

from __future__ import annotations

import argparse
import dataclasses
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
    payloads,
    report,
    sandbox,
    scale_measured,
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
    designs = (lifecycle.SPOOLED,) if profile.only_store_parts else (lifecycle.SPOOLED, lifecycle.NAIVE)
    for design in designs:
        for batched in (False, True):
            name = f"{design.name}_{'batched' if batched else 'single'}"
            log.info("  %s", name)
            results[name] = lifecycle.measure(
                design, profile.lifecycle_jobs, batched, warmup_jobs=profile.lifecycle_warmup_jobs
            )
    # The other payload classes, one request per job; github: every corpus file equally often.
    classes = [("tiny", profile.class_jobs), ("incompressible_1kb", profile.class_jobs)]
    missing = payloads.corpus_missing()
    if missing:
        log.warning("  %s: wru_per_job_github is left out of this run", missing)
    else:
        files = len(payloads.corpus_files())
        classes.append(("github", max(1, profile.class_jobs // files) * files))
    for payload_class, jobs in classes:
        log.info("  spooled_%s", payload_class)
        results[f"spooled_{payload_class}"] = lifecycle.measure(
            lifecycle.SPOOLED, jobs, False, warmup_jobs=1, payload_class=payload_class
        )
    log.info("  spooled_heartbeat")
    results["spooled_heartbeat"] = lifecycle.measure(
        lifecycle.SPOOLED, profile.class_jobs, False, warmup_jobs=1, heartbeats=True
    )
    return results


def _contention(profile: Profile) -> list[dict[str, Any]]:
    runs = []
    with sandbox.embedded_aws() as aws:
        algorithms = ("spooled",) if profile.only_store_parts else contention.ALGORITHMS
        for level in profile.contention:
            for algorithm in algorithms:
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
    parser.add_argument(
        "--scale-jobs", type=int, help="jobs per scale-model scenario (default: the profile's)"
    )
    parser.add_argument(
        "--scale-budget",
        type=float,
        help="seconds per scale-model scenario before it stops at its next delivery (default: the profile's)",
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[bench] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    # Concurrent claimers share one client whose pool is smaller than their number: not a problem.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    profile = PROFILES[args.profile]
    if args.scale_jobs:
        profile = dataclasses.replace(profile, scale_jobs=args.scale_jobs)
    if args.scale_budget:
        profile = dataclasses.replace(profile, scale_budget_seconds=args.scale_budget)
    sandbox.use_offline_environment()
    from shared.plumbing.config import settings

    timings: dict[str, float] = {}
    started = time.perf_counter()
    previous = report.load_previous(args.out, RESULTS_DIR) if profile.only_store_parts else {}
    if profile.only_store_parts:
        import_results = previous["imports"]
    else:
        with _part("4. import times", timings):
            ratio_goal = goal_analysis.goal_for("import_ratio_max")
            import_results = imports.measure(profile.import_repeats, ratio_goal)
    with _part("1-2. request units and cost per job", timings):
        life = _lifecycle(profile)
        if profile.only_store_parts:  # the naive baseline does not change with the store
            life.update({k: v for k, v in previous["lifecycle"].items() if k.startswith("naive_")})
    with _part("3. claim contention", timings):
        contended = _contention(profile)
        if profile.only_store_parts:
            contended += [r for r in previous["contention"] if r["algorithm"] == "naive"]
            measured_levels = {level.claimers for level in profile.contention}
            contended += [
                r
                for r in previous["contention"]
                if r["algorithm"] == "spooled" and r["claimers"] not in measured_levels
            ]
    if profile.only_store_parts:
        local, events = previous["throughput"], previous["event_latency"]
        speed, flow = previous["local_speed"], previous.get("flow_control")
    else:
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
    with _part("6. measured scale model", timings):
        scale["measured"] = scale_measured.measure(
            profile.scale_jobs, profile.scale_org_queues, profile.scale_budget_seconds
        )
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
    if profile.only_store_parts:
        meta["carried_over"] = {
            "parts": "4 (imports), 5 (local throughput), 7 (event latency), 8 (make dev speed), "
            "9 (flow control), naive baselines",
            "from": previous.get("meta", {}).get("finished_at"),
        }
    results = report.build(life, contended, import_results, local, scale, meta, events, speed, flow)
    json_path, md_path = report.write(results, args.out)
    log.info("wrote %s and %s in %.0f s", json_path, md_path, meta["seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
