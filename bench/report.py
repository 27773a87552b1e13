"""bench/results/latest.json and latest.md: the figures, the goals they are held to, and for every
goal missed what the measurements say about why and what would meet it (bench/goal_analysis.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench import cost_model, goal_analysis, local_speed, payloads
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
    measured = scale.get("measured")
    at_64 = {r["algorithm"]: r for r in contention if r["claimers"] == 64}
    github_life = lifecycle.get("spooled_github")  # absent when the corpus is (bench/payloads.py)
    results.update(
        {
            "wru_per_job_tiny": lifecycle["spooled_tiny"]["write_units_per_job"],
            "wru_per_job_realistic_1kb": lifecycle["spooled_single"]["write_units_per_job"],
            "wru_per_job_incompressible_1kb": lifecycle["spooled_incompressible_1kb"]["write_units_per_job"],
            "wru_per_job_github": github_life["write_units_per_job"] if github_life else None,
            # The goal for github is relative: the payload's own write units (1 per started KB of
            # its compact JSON) + 4.
            "github_payload_own_wru_mean": github_life["payload_own_write_units_mean"]
            if github_life
            else None,
            "heartbeat_wru": lifecycle["spooled_heartbeat"]["by_step"]["heartbeat"]["write_units"],
            "claim_round_trips": lifecycle["spooled_single"]["claim"]["round_trips_median"],
            "rru_per_claim": lifecycle["spooled_single"]["claim"]["read_units_per_call"],
            "wasted_writes_per_claim_64": at_64["spooled"]["deep_wasted_per_claim"] if at_64 else None,
        }
    )
    if github_life is None:
        results["github_corpus_missing"] = payloads.corpus_missing() or "the GitHub class did not run"
    if measured:
        results["queue_ceiling_jobs_per_second"] = measured["queue_ceiling_jobs_per_second"]
        results["queue_ceiling_limiting_key"] = measured["queue_limiting_key"]
        results["org_ceiling_jobs_per_second"] = measured["org_ceiling_jobs_per_second"]
        results["org_ceiling_limiting_key"] = measured["org_limiting_key"]
        results["scale_model_jobs"] = measured["runs"]["queue"]["jobs"]
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
        if results.get(key) is None:
            continue
        if key == "wru_per_job_github":
            target = round(results["github_payload_own_wru_mean"] + 4, 2)
        at_least = key in goal_analysis.AT_LEAST
        met = results[key] >= target if at_least else results[key] <= target
        if met:
            why, what = None, None
        elif key in analyses:
            why, what = analyses[key]()
        else:
            why, what = goal_analysis.store_analysis(key, results, lifecycle, scale)
        goals.append(
            {
                "key": key,
                "goal": text,
                "at_most": None if at_least else target,
                "at_least": target if at_least else None,
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


def load_previous(directory: Path, fallback: Path) -> dict[str, Any]:
    """The last report (in `directory`, else in `fallback`), whose slow parts a `quick` run carries over."""
    path = directory / "latest.json"
    document: dict[str, Any] = json.loads((path if path.exists() else fallback / "latest.json").read_text())
    return document


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
