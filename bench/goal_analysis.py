"""Why a missed goal was missed and what would meet it, worked out from the measured breakdown.

Each analysis returns (why, what would meet it) as sentences for the report; the figures in them
come from the run, the reasoning from how the store spends its units (bench/capacity.py's rules).
"""

from __future__ import annotations

import math
from typing import Any

from bench import capacity
from bench.lifecycle import PAYLOAD_BYTES
from bench.prices import US_EAST_1

# key, target (at most, or at least for the keys in AT_LEAST), what it measures (issue 11's goals;
# wru_per_job_github's target is worked out per run: the payload's own write units + 4)
GOALS: tuple[tuple[str, float, str], ...] = (
    ("wru_per_job_single", 5.1, "DynamoDB write units per job lifecycle, one request per job (1 KB JSON)"),
    ("wru_per_job_batched", 5.1, "DynamoDB write units per job lifecycle, bulk create + claim limit 10"),
    ("wru_per_job_tiny", 5.1, "write units per job lifecycle, ~100-byte payload"),
    ("wru_per_job_realistic_1kb", 5.1, "write units per job lifecycle, realistic 1 KB JSON"),
    ("wru_per_job_incompressible_1kb", 7.1, "write units per job lifecycle, 1 KB random base64"),
    ("wru_per_job_github", 0.0, "write units per job lifecycle, GitHub webhook bodies (payload's own + 4)"),
    ("heartbeat_wru", 1.0, "write units per heartbeat"),
    ("claim_round_trips", 2.0, "sequential DynamoDB round trips of one claim call"),
    ("rru_per_claim", 1.5, "read units per claim call"),
    ("wasted_writes_per_claim_16", 0.1, "wasted conditional writes per claim, 16 claimers"),
    ("wasted_writes_per_claim_64", 0.5, "wasted conditional writes per claim, 64 claimers"),
    ("import_ratio_max", 1.6, "slowest handler import / `import boto3`"),
    ("usd_per_million_batched", 5.0, "USD per million jobs all-in, batched"),
    ("queue_ceiling_jobs_per_second", 10_000.0, "jobs/s one queue sustains (measured partition loads)"),
    ("org_ceiling_jobs_per_second", 50_000.0, "jobs/s one organization sustains over many queues"),
)
AT_LEAST = {"queue_ceiling_jobs_per_second", "org_ceiling_jobs_per_second"}


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


# --- why a goal was missed, and what would meet it -------------------------------------------


def goal_for(key: str) -> float:
    return next(target for k, target, _ in GOALS if k == key)


def write_unit_savings(life: dict[str, Any]) -> list[tuple[str, float]]:
    """Changes the measured breakdown points at, each with the write units per job it would save."""
    steps = life["by_step"]
    create, claim, complete = (steps.get(s, {}) for s in ("create", "claim", "complete"))
    payload_attribute = len("payload") + PAYLOAD_BYTES
    state_bytes = max(claim.get("item_bytes_max", 0), complete.get("item_bytes_max", 0)) - payload_attribute
    rewrites = sum(max(0.0, s.get("table_write_units", 0) - 1) for s in (claim, complete))
    listing = {n: u for n, u in create.get("index_write_units", {}).items() if n != "ready"}
    savings = []
    if rewrites and 0 < state_bytes <= 1024:
        # The payload item holds the payload plus keys and ids (~100 bytes); the state item fits 1 KB.
        new_create = capacity.write_units(payload_attribute + 100) + 1
        savings.append(
            (
                "keep the payload in an item of its own, written once at create: the item every "
                f"transition rewrites is then ~{state_bytes:,} bytes, 1 unit per write "
                f"(create {create.get('table_write_units', 0):g} -> {new_create})",
                rewrites + create.get("table_write_units", 0) - new_create,
            )
        )
        if listing:
            savings.append(
                (
                    "key that payload item by queue and creation time and let it serve the job listings "
                    "(a base-table query per queue; per organization, a merge over its queues) instead of "
                    f"the {' and '.join(listing)} index entries",
                    sum(listing.values()),
                )
            )
    elif len(listing) > 1:
        savings.append((f"one listing index instead of {' and '.join(listing)}", min(listing.values())))
    timers = sum(s.get("index_write_units", {}).get("timers", 0) for s in (claim, complete))
    if timers:
        savings.append(
            (
                "lease timers as SQS messages only (the stream already arms one per claim batch), no "
                "timers-index entry while a job runs; the sweep would then find lost leases another way",
                timers,
            )
        )
    return savings


def write_units_analysis(life: dict[str, Any]) -> tuple[str, str]:
    steps = life["by_step"]
    parts = []
    for step in ("create", "claim", "complete"):
        s = steps.get(step)
        if not s:
            continue
        extras = ", ".join(f"{name} {_fmt(u)}" for name, u in s["index_write_units"].items())
        by_item = s.get("table_write_units_by_item", {})
        items = f" [{', '.join(f'{k} {_fmt(u)}' for k, u in by_item.items())}]" if len(by_item) > 1 else ""
        parts.append(
            f"{step} {_fmt(s['write_units'])} (table {_fmt(s['table_write_units'])}{items}, largest item "
            f"{s['item_bytes_max']:,} bytes{', ' + extras if extras else ''})"
        )
    downstream = sum(steps[s]["write_units"] for s in ("stream", "timer") if s in steps)
    why = "; ".join(parts) + (f"; stream and timers {_fmt(downstream)}" if downstream else "") + "."
    savings = write_unit_savings(life)
    left = life["write_units_per_job"] - sum(units for _, units in savings)
    what = "; ".join(f"{text} (-{_fmt(units)})" for text, units in savings)
    what += f". All of these: ~{_fmt(left)} units per job"
    goal = goal_for("wru_per_job_single")
    if left <= goal:
        what += "."
    elif left - goal <= downstream:
        what += f", the rest above {goal:g} being the stream's own writes (counters, activity)."
    else:
        what += ", still above the goal."
    return why, what


def contention_analysis(runs: list[dict[str, Any]]) -> tuple[str, str]:
    from shared.jobs import claim_policy

    ours = {r["claimers"]: r for r in runs if r["algorithm"] == "spooled"}
    naive = {r["claimers"]: r for r in runs if r["algorithm"] == "naive"}
    figures = ", ".join(
        f"{c} claimers {_fmt(ours[c]['deep_wasted_per_claim'])}"
        + (f" (naive {_fmt(naive[c]['deep_wasted_per_claim'])})" if c in naive else "")
        for c in sorted(ours)
    )
    why = (
        f"Wasted writes per claim with a deep queue: {figures}. shared/jobs/claim_policy.py: a claimer reads "
        f"at least {claim_policy.candidates_to_fetch(1, 1.0)} candidates per shard, reshuffles the rest "
        "after its first lost race in a call, gives up after limit + 2 lost races, and remembers the "
        f"contention per queue as a spread (x{claim_policy.GROWTH:g} per lost race, -5% per clean call, "
        f"at most {claim_policy.window_size(1, claim_policy.MAX_SPREAD)} jobs wide at limit 1), reads a "
        "sharded queue's shards in a random order, and starts on a sharded queue at spread "
        f"{claim_policy.initial_spread(2):g}. Every claimer here is a fresh JobStore (as a new Lambda "
        "container is), so its first calls, before it has seen a race, are most of the remaining waste, "
        "and the 64-job window is narrow for 64 claimers."
    )
    what = (
        "start a claimer's spread from the number of live workers of the queue (the worker registry "
        "knows them) instead of 1, so a new container's first claims are already spread; widen the "
        "window past one 100-item query page for very many claimers; prefer batched claims (limit 10), "
        "which take ten jobs per head read."
    )
    return why, what


def import_analysis(imports: dict[str, Any]) -> tuple[str, str]:
    worst = imports["slowest_handler"]
    info = imports["handlers"][worst]
    heavy = ", ".join(f"{h['module']} {h['self_ms']} ms" for h in info.get("heaviest_imports", []))
    why = (
        f"{worst} takes {info['median_ms']} ms to import, {info['ratio']}x `import boto3` "
        f"({imports['baseline_median_ms']} ms); the modules with the most import time of their own: {heavy}."
    )
    what = (
        "import each route module (and the pydantic models it declares) when its route is first called, "
        "not at handler import, and keep module-level work (model classes, compiled patterns, routers "
        "of every endpoint) out of the cold path."
    )
    return why, what


def cost_analysis(cost: dict[str, Any], life: dict[str, Any]) -> tuple[str, str]:
    components = ", ".join(f"{k} ${v:.2f}" for k, v in cost.items() if k != "total" and v >= 0.01)
    why = f"${cost['total']:.2f} per million jobs: {components}."
    goal = goal_for("usd_per_million_batched")
    per_unit = US_EAST_1.dynamodb_write_request_unit * 1e6
    others = cost["total"] - cost["dynamodb_writes"]
    left = life["write_units_per_job"] - sum(units for _, units in write_unit_savings(life))
    with_fewer_writes = others + left * per_unit
    without_gateway = with_fewer_writes - cost["api_gateway"]
    what = (
        f"writes are ${cost['dynamodb_writes']:.2f} of it: with everything else as measured, ${goal:g} "
        f"allows {(goal - others) / per_unit:.1f} write units per job. The changes listed under "
        f"wru_per_job_batched (~{left:.1f} units) bring it to ${with_fewer_writes:.2f}. Serving the API "
        "from a Lambda function URL, which has no request charge, instead of the HTTP API "
        f"(${cost['api_gateway']:.2f}: one request per completed job, as SDK 1.6.0 has no bulk complete) "
        "would then make it "
        f"${without_gateway:.2f}, at the price of API Gateway's throttling and custom domain."
    )
    return why, what


# --- issue 11's store figures ----------------------------------------------------------------

_STORE_WHY = {
    "wru_per_job_tiny": "spooled_tiny",
    "wru_per_job_realistic_1kb": "spooled_single",
    "wru_per_job_incompressible_1kb": "spooled_incompressible_1kb",
    "wru_per_job_github": "spooled_github",
}
_STORE_WHAT = {
    "wru_per_job": (
        "the payload (zlib-compressed where that helps) in an item of its own written once at create "
        "when the job item would otherwise pass 1 KB, a compact job item, lease deadlines only as delayed "
        "SQS messages (no timers-index entry while a job runs), and no per-job listing-index entries"
    ),
    "heartbeat_wru": (
        "a heartbeat that writes only the lease deadline on a job item under 1 KB and no timers-index "
        "entry (the deadline lives in a delayed SQS message, re-armed when it fires early)"
    ),
    "claim_round_trips": (
        "cache the API key and queue config per container (short TTL), read one or two ready shards "
        "in parallel instead of all in turn, and take promote_due off the claim path"
    ),
    "rru_per_claim": "fewer, smaller reads (cached key and config, one or two shards, keys-only index)",
    "wasted_writes_per_claim_16": (
        "start a new claimer's spread from the queue's live workers, and let each claimer read a "
        "shard of its own choosing (random, one or two per call)"
    ),
    "queue_ceiling_jobs_per_second": (
        "shard every per-queue partition (ready, timers, listings, counters) and keep leases out of "
        "the timers index"
    ),
}
_STORE_WHAT["wasted_writes_per_claim_64"] = _STORE_WHAT["wasted_writes_per_claim_16"]


def ceiling_analysis(run: dict[str, Any], goal: float) -> tuple[str, str]:
    """Why a measured scale scenario stops short of `goal` jobs/s, and how far each partition that
    stops it would have to be spread: from the partitions measured, not from the store's layout."""
    short = [r for r in run["hottest"] if r["jobs_per_second"] < goal]
    hottest = "; ".join(
        f"{r['where']} {r['partition']}: {r['write_units_per_job']} WRU/job, "
        f"{r['read_units_per_job']} RRU/job -> {r['jobs_per_second']:,.0f} jobs/s ({r['limited_by']})"
        for r in run["hottest"][:3]
    )
    why = (
        f"measured over {run['jobs']:,} jobs in {run['queues']} queue(s), the busiest partitions: {hottest}."
    )
    fixes = []
    for row in short[:4]:
        ways = math.ceil(goal / row["jobs_per_second"])
        what = "its entries" if row["where"] != "table" else "that item's writes"
        fixes.append(f"{row['where']} {row['partition']}: spread {what} over >= {ways} partition keys")
    more = len([r for r in run["hottest"] if r["jobs_per_second"] < goal]) - len(fixes)
    what = (
        "every partition below the goal needs its load spread (a shard suffix on the key, chosen per "
        "job or per request) or its per-job writes removed: "
        + "; ".join(fixes)
        + (f"; and {more} more partitions of the same kind" if more > 0 else "")
    )
    return why, what + "."


def store_analysis(
    key: str, results: dict[str, Any], lifecycle: dict[str, Any], scale: dict[str, Any]
) -> tuple[str, str]:
    """Why one of issue 11's figures missed its goal, from the measured breakdown."""
    if key in _STORE_WHY:
        life = lifecycle[_STORE_WHY[key]]
        why, _ = write_units_analysis(life)
        return why, _STORE_WHAT["wru_per_job"] + "."
    if key == "heartbeat_wru":
        step = lifecycle["spooled_heartbeat"]["by_step"]["heartbeat"]
        extras = ", ".join(f"{n} {_fmt(u)}" for n, u in step["index_write_units"].items()) or "no index"
        why = (
            f"a heartbeat rewrites the {step['item_bytes_max']:,}-byte job item "
            f"({_fmt(step['table_write_units'])}) and {extras}."
        )
        return why, _STORE_WHAT[key] + "."
    if key in ("claim_round_trips", "rru_per_claim"):
        claim = lifecycle["spooled_single"]["claim"]
        calls = lifecycle["spooled_single"]["calls_per_job"]
        why = (
            f"one claim call makes {claim['round_trips_median']} sequential DynamoDB round trips and reads "
            f"{claim['read_units_per_call']} units; per job: "
            + ", ".join(f"{n} {v}" for n, v in calls.items() if n.startswith("dynamodb."))
            + "."
        )
        return why, _STORE_WHAT[key] + "."
    if key in ("queue_ceiling_jobs_per_second", "org_ceiling_jobs_per_second"):
        run = scale["measured"]["runs"]["queue" if key.startswith("queue") else "org"]
        return ceiling_analysis(run, goal_for(key))
    return f"measured {results.get(key)}.", _STORE_WHAT.get(key, "see docs/architecture.md") + "."
