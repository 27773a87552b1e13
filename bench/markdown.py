"""latest.md: the run's figures as short tables, goals first (docs/benchmarks.md explains them)."""

from __future__ import annotations

from typing import Any


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
        ["goal", "at most", "measured", ""],
        [[g["goal"], g["at_most"], g["measured"], "met" if g["met"] else "**missed**"] for g in r["goals"]],
    )
    for g in (g for g in r["goals"] if not g["met"]):
        out += [f"**{g['key']}** — why: {g['why']}", "", f"What would meet it: {g['what_would_meet_it']}", ""]

    out += ["## 1-2. Request units and dollars per job (1 KB payload)", ""]
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
        ["step (spooled, single)", "WRU", "item", "indexes", "RRU", "item bytes"],
        [
            [
                step,
                s["write_units"],
                s["table_write_units"],
                ", ".join(f"{k} {v}" for k, v in s["index_write_units"].items()) or "-",
                s["read_units"],
                s["item_bytes_max"],
            ]
            for step, s in single.items()
        ],
    )
    cost_rows = [[name, *[c[k] for k in c]] for name, c in r["cost"].items()]
    out += _table(["$ per million", *next(iter(r["cost"].values())).keys()], cost_rows)

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
    out += ["## 6. Scale model: sustainable jobs per second per queue", ""]
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
