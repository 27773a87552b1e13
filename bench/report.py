"""bench/results/latest.json and latest.md: the figures, the goals they are held to, and for every
goal missed what the measurements say about why and what would meet it (bench/goal_analysis.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench import cost_model, goal_analysis, local_speed
from bench.goal_analysis import GOALS
from bench.markdown import markdown
from bench.prices import PRICES_AS_OF, REGION, US_EAST_1


def build(
    lifecycle: dict[str, dict[str, Any]],
    contention: list[dict[str, Any]],
    imports: dict[str, Any],
    throughput: dict[str, Any],
    scale: dict[str, Any],
    meta: dict[str, Any],
    event_latency: dict[str, Any],
    speed: dict[str, Any],
    flow_control: dict[str, Any] | None = None,
) -> dict[str, Any]:
    costs = {
        name: cost_model.usd_per_million_jobs(cost_model.JobUsage(**life["usage"]), US_EAST_1).as_dict()
        for name, life in lifecycle.items()
    }
    at_16 = {r["algorithm"]: r for r in contention if r["claimers"] == 16}
    local = {k: v for k, v in local_speed.figures(speed, throughput["runs"]).items() if v is not None}
    results: dict[str, Any] = {
        "wru_per_job_single": lifecycle["spooled_single"]["write_units_per_job"],
        "wru_per_job_batched": lifecycle["spooled_batched"]["write_units_per_job"],
        "rru_per_job_single": lifecycle["spooled_single"]["read_units_per_job"],
        "rru_per_job_batched": lifecycle["spooled_batched"]["read_units_per_job"],
        "naive_wru_per_job_single": lifecycle["naive_single"]["write_units_per_job"],
        "naive_wru_per_job_batched": lifecycle["naive_batched"]["write_units_per_job"],
        "wasted_writes_per_claim_16": at_16["spooled"]["deep_wasted_per_claim"],
        "naive_wasted_writes_per_claim_16": at_16["naive"]["deep_wasted_per_claim"],
        "import_ratio_max": imports["ratio_max"],
        "usd_per_million_single": costs["spooled_single"]["total"],
        "usd_per_million_batched": costs["spooled_batched"]["total"],
        "naive_usd_per_million_single": costs["naive_single"]["total"],
        "naive_usd_per_million_batched": costs["naive_batched"]["total"],
        **local,
        "sustainable_jobs_per_second_per_queue": scale["at_configured_shards"]["jobs_per_second"],
    }
    analyses = {
        "wru_per_job_single": lambda: goal_analysis.write_units_analysis(lifecycle["spooled_single"]),
        "wru_per_job_batched": lambda: goal_analysis.write_units_analysis(lifecycle["spooled_batched"]),
        "wasted_writes_per_claim_16": lambda: goal_analysis.contention_analysis(contention),
        "import_ratio_max": lambda: goal_analysis.import_analysis(imports),
        "usd_per_million_batched": lambda: goal_analysis.cost_analysis(
            costs["spooled_batched"], lifecycle["spooled_batched"]
        ),
    }
    goals = []
    for key, target, text in GOALS:
        met = results[key] <= target
        why, what = (None, None) if met else analyses[key]()
        goals.append(
            {
                "key": key,
                "goal": text,
                "at_most": target,
                "measured": results[key],
                "met": met,
                "why": why,
                "what_would_meet_it": what,
            }
        )
    return {
        **results,
        "meta": meta,
        "prices": {"as_of": PRICES_AS_OF, "region": REGION, **US_EAST_1.as_dict()},
        "goals": goals,
        "lifecycle": lifecycle,
        "cost": costs,
        "contention": contention,
        "imports": imports,
        "throughput": throughput,
        "scale": scale,
        "event_latency": event_latency,
        "local_speed": {**speed, "targets": local_speed.target_checks(results)},
        **({"flow_control": flow_control} if flow_control is not None else {}),
    }


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (
        ("latest.json", json.dumps(results, indent=2) + "\n"),
        ("latest.md", markdown(results) + "\n"),
    ):
        final = directory / name
        temporary = directory / f"{name}.tmp"
        temporary.write_text(text)
        os.replace(temporary, final)  # a reader never sees half a report
        paths.append(final)
    return paths[0], paths[1]
