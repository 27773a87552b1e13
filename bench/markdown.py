"""latest.md: the run's figures as short tables, goals first (docs/benchmarks.md explains them)."""

from __future__ import annotations

import re
from typing import Any

_UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def _short(partition: str) -> str:
    """A partition key for a table cell: ids cut to their first 8 characters."""
    return _UUID.sub(lambda m: m.group(1) + "…", partition)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def markdown(r: dict[str, Any]) -> str:
    meta = r["meta"]
    out = [
        "# Benchmarks — latest run",
        "",
        f"{meta['finished_at']} · profile `{meta['profile']}` · {meta['seconds']:.0f} s · "
        f"Python {meta['python']} · {meta['cpus']} CPUs (load {meta['load_average']}) · prices "
        f"{r['prices']['region']} as of {r['prices']['as_of']}. How to read this: docs/benchmarks.md.",
        "",
        "## Goals",
        "",
    ]
    out += _table(
        ["goal", "target", "measured", ""],
        [
            [
                g["goal"],
                f"≥ {g['at_least']:g}" if g.get("at_least") is not None else f"≤ {g['at_most']:g}",
                g["measured"],
                "met" if g["met"] else "**missed**",
            ]
            for g in r["goals"]
        ],
    )
    if r.get("github_corpus_missing"):
        out += [f"**Not measured: wru_per_job_github.** {r['github_corpus_missing']}.", ""]
    if r["meta"].get("carried_over"):
        carried = r["meta"]["carried_over"]
        out += [f"Profile `quick`: parts {carried['parts']} carried over from the run of {carried['from']}."]
        out += [""]
    classes = [
        (name, life)
        for name, life in r["lifecycle"].items()
        if name.startswith("spooled_") and "payload_class" in life and name != "spooled_heartbeat"
    ]
    if classes:
        out += ["## 1a. Write units per job by payload class (create, claim limit 1, complete)", ""]
        rows = []
        for name, life in classes:
            steps = life["by_step"]
            rows.append(
                [
                    name,
                    life.get("payload_class", "-"),
                    life.get("payload_bytes_mean", "-"),
                    life["write_units_per_job"],
                    *(steps.get(s, {}).get("write_units", 0) for s in ("create", "claim", "complete")),
                    round(sum(steps.get(s, {}).get("write_units", 0) for s in ("stream", "timer")), 4),
                    max(steps.get(s, {}).get("item_bytes_max", 0) for s in ("create", "claim", "complete")),
                ]
            )
        out += _table(
            [
                "scenario",
                "payload",
                "bytes",
                "WRU",
                "create",
                "claim",
                "complete",
                "stream+timer",
                "max item",
            ],
            rows,
        )
        steps_rows = [
            [
                name.removeprefix("spooled_"),
                step,
                s["write_units"],
                ", ".join(f"{k} {v}" for k, v in s.get("table_write_units_by_item", {}).items()) or "-",
                ", ".join(f"{k} {v}" for k, v in s["index_write_units"].items()) or "-",
                s["item_bytes_max"],
            ]
            for name, life in classes
            for step, s in life["by_step"].items()
            if s["write_units"]
        ]
        out += _table(["scenario", "step", "WRU", "table, by item", "indexes", "max item bytes"], steps_rows)
        claim = r["lifecycle"]["spooled_single"].get("claim", {})
        out += [
            f"Claim (limit 1, steady state, through the API handler: API-key and queue-config reads "
            f"included): {claim.get('round_trips_median')} sequential round trips "
            f"(max {claim.get('round_trips_max')}), {claim.get('read_units_per_call')} read units per call. "
            f"Heartbeat: {r.get('heartbeat_wru')} write units. GitHub payloads' own write units "
            f"(1 per started KB of compact JSON, mean): {r.get('github_payload_own_wru_mean')}.",
            "",
        ]
    for g in (g for g in r["goals"] if not g["met"]):
        out += [f"**{g['key']}** — why: {g['why']}", "", f"What would meet it: {g['what_would_meet_it']}", ""]

    out += ["## 1-2. Request units and dollars per job (realistic 1 KB JSON unless named)", ""]
    rows = []
    for name, life in r["lifecycle"].items():
        cost = r["cost"][name]
        rows.append(
            [
                name,
                life["write_units_per_job"],
                life["read_units_per_job"],
                life["api_requests_per_job"],
                life["lambda_requests_per_job"],
                life["sqs_requests_per_job"],
                f"{life['lambda_gb_seconds_per_job']:.4f}",
                f"${cost['total']:.2f}",
            ]
        )
    out += _table(["scenario", "WRU", "RRU", "API req", "Lambda req", "SQS req", "GB-s", "$/M jobs"], rows)
    single = r["lifecycle"]["spooled_single"]["by_step"]
    out += _table(
        ["step (spooled, single)", "WRU", "table", "table by item", "indexes", "RRU", "item bytes"],
        [
            [
                step,
                s["write_units"],
                s["table_write_units"],
                ", ".join(f"{k} {v}" for k, v in s.get("table_write_units_by_item", {}).items()) or "-",
                ", ".join(f"{k} {v}" for k, v in s["index_write_units"].items()) or "-",
                s["read_units"],
                s["item_bytes_max"],
            ]
            for step, s in single.items()
        ],
    )
    cost_rows = [[name, *[c[k] for k in c]] for name, c in r["cost"].items()]
    out += _table(["$ per million", *next(iter(r["cost"].values())).keys()], cost_rows)

    measured = r["scale"].get("measured")
    if measured:
        out += ["## 6a. Measured scale model (partition keys of every write and read)", ""]
        rows = []
        for name, run in measured["runs"].items():
            for row in run["hottest"][:4]:
                rows.append(
                    [
                        f"{name} ({run['jobs']:,} jobs, {run['queues']} queues)",
                        row["where"],
                        _short(row["partition"]),
                        row["write_units_per_job"],
                        row["read_units_per_job"],
                        f"{row['jobs_per_second']:,.0f}",
                    ]
                )
        out += _table(["scenario", "table/index", "partition", "WRU/job", "RRU/job", "ceiling jobs/s"], rows)
        out += [
            f"Ceiling, one queue: {measured['queue_ceiling_jobs_per_second']:,.0f} jobs/s, set by "
            f"{_short(measured['queue_limiting_key'])}; one organization over many queues: "
            f"{measured['org_ceiling_jobs_per_second']:,.0f} jobs/s, set by "
            f"{_short(measured['org_limiting_key'])}. "
            "Per partition 1,000 write units/s and 3,000 read units/s.",
            "",
        ]
        for name, run in measured["runs"].items():
            busiest = run.get("busiest_write_partition")
            if not busiest:
                continue
            out += [
                f"Busiest write partition ({name}): {busiest['where']} {_short(busiest['partition'])}, "
                f"{busiest['share_of_all_writes']:.1%} of all {run['write_units_per_job']} "
                "write units per job; "
                f"at {busiest.get('goal_jobs_per_second', 0):,} jobs/s it would take "
                f"{busiest.get('write_units_per_second_at_goal', 0):,.0f} WRU/s "
                f"({busiest.get('times_the_partition_limit_at_goal', 0)}x a partition's limit). "
                f"{run['seconds']} s for {run['jobs']:,} jobs"
                + (
                    f" (stopped at its time budget; {run['jobs_asked']:,} asked)."
                    if run.get("stopped_at_time_budget")
                    else "."
                ),
                "",
            ]

    out += ["## 3. Claim contention (limit 1, one queue)", ""]
    out += _table(
        [
            "algorithm",
            "claimers",
            "claimed",
            "wasted/claim (deep queue)",
            "wasted/claim (whole run)",
            "drained",
        ],
        [
            [
                c["algorithm"],
                c["claimers"],
                f"{c['claimed']}/{c['jobs']}",
                c["deep_wasted_per_claim"],
                c["wasted_per_claim"],
                c["drained"],
            ]
            for c in r["contention"]
        ],
    )
    imp = r["imports"]
    out += ["## 4. Cold-start proxy (import time, fresh process, median)", ""]
    out += _table(
        ["module", "median ms", "x import boto3"],
        [["boto3", imp["baseline_median_ms"], 1.0]]
        + [[m, h["median_ms"], h["ratio"]] for m, h in imp["handlers"].items()],
    )
    tp = r["throughput"]
    out += ["## 5. Local throughput through `make dev` (SDK workers; not an AWS figure)", ""]
    out += _table(
        ["workers", "claims", "jobs", "seconds", "jobs/s"],
        [[t["workers"], t["mode"], t["jobs"], t["seconds"], t["jobs_per_second"]] for t in tp["runs"]],
    )
    spread = tp["shard_spread"]
    out += [
        f"Shard spread of the first half of each run's claims: {spread['claims_by_shard']} "
        f"(chi-square p = {spread['chi_square_p_value']}): {'even' if spread['even'] else '**uneven**'}.",
        "",
    ]
    scale = r["scale"]
    out += ["## 6b. Scale model, formula: sustainable jobs per second per queue", ""]
    out += _table(
        ["ready shards", *[m for m in scale["modes"]]],
        [
            [
                row["shards"],
                *[
                    f"{scale['modes'][m][i]['jobs_per_second']:,.0f} ({scale['modes'][m][i]['bottleneck']})"
                    for m in scale["modes"]
                ],
            ]
            for i, row in enumerate(next(iter(scale["modes"].values())))
        ],
    )
    out += [scale["note"], ""]
    out += event_latency_section(r["event_latency"])
    out += local_speed_section(r["local_speed"])
    if "flow_control" in r:
        out += flow_control_section(r["flow_control"])
    return "\n".join(out)


def local_speed_section(speed: dict[str, Any]) -> list[str]:
    out = ["## 8. `make dev` speed (SDK requests, idle CPU; not an AWS figure)", ""]
    out += _table(
        ["request", "n", "p50 ms", "p95 ms", "max ms"],
        [[name, t["count"], t["p50_ms"], t["p95_ms"], t["max_ms"]] for name, t in speed["latency"].items()],
    )
    out += [f"Idle: {speed['idle']['cpu_percent']}% of one core over {speed['idle']['seconds']:.0f} s.", ""]
    out += _table(
        ["figure", "target", "measured", ""],
        [
            [
                t["key"],
                f"at most {t['at_most']}" if "at_most" in t else f"at least {t['at_least']}",
                t["measured"],
                "met" if t["met"] else "**missed**",
            ]
            for t in speed["targets"]
        ],
    )
    return [*out, speed["note"], ""]


def flow_control_section(fc: dict[str, Any]) -> list[str]:
    out = ["## 9. Flow control: write units per claim (docs/flow-control.md)", ""]
    out += _table(
        [
            "queue limits",
            "WRU/claim",
            "WRU/complete",
            "WRU/job in the stream pass",
            "WRU/empty claim",
            "extra WRU/job",
        ],
        [
            [
                name,
                row["wru_per_claim"],
                row["wru_per_complete"],
                row["wru_stream_per_job"],
                row["wru_per_empty_claim"],
                row["extra_wru_per_job"],
            ]
            for name, row in fc["scenarios"].items()
        ],
    )
    out += [f"{fc['jobs']} jobs per scenario. {fc['note']}", ""]
    return out


def event_latency_section(ev: dict[str, Any]) -> list[str]:
    base, cron = ev["baseline"], ev["cron"]
    columns = ("count", "median_ms", "p95_ms", "max_ms")
    out = ["## 7. Event latency through `make dev` (cron, live updates, webhooks; not an AWS figure)", ""]
    out += _table(
        ["latency", "n", "median ms", "p95 ms", "max ms", "median x baseline", "missing"],
        [[f"baseline: {base['what']}", *(base[c] for c in columns), 1.0, "-"]]
        + [
            [row["what"], *(row[c] for c in columns), row["median_x_baseline"], row["missing"]]
            for row in ev["latencies"].values()
        ],
    )
    out += [
        f"Cron `* * * * * *` for {cron['seconds']} s: {cron['jobs']} jobs, {cron['expected_fires']} "
        f"fires due before the pause, missed {cron['missed']}, duplicates {cron['duplicates']}, "
        f"early {cron['early']}, runs recorded {cron['runs_recorded']} ({cron['failed_runs']} failed). "
        f"Webhook requests with a bad signature: {ev['bad_signatures']}.",
        "",
        ev["note"],
        "",
    ]
    return out
