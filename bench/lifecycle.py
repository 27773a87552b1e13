"""Parts 1 and 2: what one job lifecycle (create → claim → complete, 1 KB payload) costs.

Each scenario runs in a fresh in-process moto: jobs go through the real API Lambda handler as API
Gateway events, then the table's stream goes to the dispatcher in event-source-sized batches and
the timer messages the dispatcher armed are delivered to it once due, so everything a job causes
downstream is counted too. The naive baseline (bench/naive_design.py) runs the same workload.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import mean
from typing import Any

from bench import cost_model, payloads, sandbox
from bench.meter import ImageReader, Meter
from bench.naive_design import NAIVE_TABLE

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
PAYLOAD_BYTES = 1024
ROUND = 100  # jobs per round: one bulk request carries at most 100 (contract §2.4)
LEASE_SECONDS = 30  # the SDK's default lease


class BenchError(RuntimeError):
    """The workload did not do what it should: a figure from it would be meaningless."""


def payload_of_size(size: int) -> dict[str, str]:
    """A JSON object whose compact encoding is exactly `size` bytes."""
    payload = {"data": "x" * (size - len('{"data":""}'))}
    assert len(json.dumps(payload, separators=(",", ":"))) == size
    return payload


@dataclass(frozen=True)
class Design:
    name: str
    handler: Callable[[], Handler]  # imported late: the environment must be set first
    extra_tables: tuple[Any, ...] = ()
    downstream: bool = True  # the table has a stream feeding the dispatcher


def _spooled_handler() -> Handler:
    from functions.api.handler import handler

    # The API logs a JSON line per request at INFO (docs/operations.md): not into the report.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    return handler


def _naive_handler() -> Handler:
    from bench import naive_design

    naive_design.store.cache_clear()
    return naive_design.handler


SPOOLED = Design("spooled", _spooled_handler)
NAIVE = Design("naive", _naive_handler, extra_tables=(NAIVE_TABLE,), downstream=False)


class ApiDriver:
    """Calls an API Lambda handler as API Gateway would: one metered invocation per request."""

    def __init__(self, handler: Handler, api_key: str, meter: Meter) -> None:
        self.handler = handler
        self.meter = meter
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "User-Agent": "spooled-python/1.6.0",
        }

    def post(self, path: str, body: dict[str, Any], step: str, method: str = "POST") -> Any:
        from local_stack.gateway import event_from_request

        raw = json.dumps(body, separators=(",", ":")).encode()
        event = event_from_request(method, path, self.headers, raw, "127.0.0.1")
        with self.meter.invocation("api", step):
            result = self.handler(event, None)
        if result["statusCode"] >= 300:
            raise BenchError(f"{step}: HTTP {result['statusCode']} {result.get('body', '')[:300]}")
        return json.loads(result["body"])


def run_lifecycles(
    driver: ApiDriver,
    queue: str,
    jobs: int,
    batched: bool,
    payload_for: payloads.PayloadFactory = payloads.realistic,
    heartbeats: bool = False,
) -> list[str]:
    """`jobs` lifecycles: create (job n carries payload_for(n)), claim, [heartbeat,] complete.
    Returns the ids of the jobs completed."""
    limit = 10 if batched else 1
    completed: list[str] = []
    for start in range(0, jobs, ROUND):
        size = min(ROUND, jobs - start)
        if batched:
            body = {"queue_name": queue, "jobs": [{"payload": payload_for(start + i)} for i in range(size)]}
            if driver.post("/api/v1/jobs/bulk", body, "create")["success_count"] != size:
                raise BenchError("bulk create did not create every job")
        else:
            for i in range(size):
                body = {"queue_name": queue, "payload": payload_for(start + i)}
                driver.post("/api/v1/jobs", body, "create")
        remaining = size
        while remaining:
            claim = {"queue_name": queue, "worker_id": "bench-worker", "limit": limit}
            claim["lease_duration_secs"] = LEASE_SECONDS
            claimed = driver.post("/api/v1/jobs/claim", claim, "claim")["jobs"]
            if not claimed:
                raise BenchError(f"claim returned nothing with {remaining} jobs pending")
            for job in claimed:
                if heartbeats:
                    beat = {"worker_id": "bench-worker", "lease_id": job["lease_id"]}
                    beat["lease_duration_secs"] = LEASE_SECONDS
                    driver.post(f"/api/v1/jobs/{job['id']}/heartbeat", beat, "heartbeat")
                done = {"worker_id": "bench-worker", "lease_id": job["lease_id"], "result": {"ok": True}}
                driver.post(f"/api/v1/jobs/{job['id']}/complete", done, "complete")
                completed.append(job["id"])
            remaining -= len(claimed)
    return completed


def deliver_stream(meter: Meter, poller: Any, records: list[dict[str, Any]]) -> None:
    """The stream as the event source mapping delivers it: batches of STREAM_BATCH_SIZE."""
    from functions.dispatcher.handler import handler as dispatcher

    with meter.paused():
        while poller.poll_once():
            pass
    batch = cost_model.STREAM_BATCH_SIZE
    for start in range(0, len(records), batch):
        with meter.invocation("dispatcher", "stream"):
            dispatcher({"Records": records[start : start + batch]})
    records.clear()


def _sqs_record(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": uuid.uuid4().hex,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:spooled-dispatch",
        "awsRegion": "us-east-1",
    }


def deliver_timers(meter: Meter, already_sent: int) -> int:
    """Messages the dispatcher sent itself (timers), delivered to it once SQS would: its clock is
    moved past the last one's DelaySeconds. Returns how many messages have been sent so far."""
    from functions.dispatcher import handler as dispatcher
    from shared.plumbing.clock import FixedClock

    sent = [message for call in meter.calls for message in call.sent_messages]
    fresh = sent[already_sent:]
    if not fresh:
        return len(sent)
    store = dispatcher.store()
    saved = store.clock
    store.clock = FixedClock(max(message.visible_at_ms for message in fresh) + 1000)
    try:
        batch = cost_model.QUEUE_BATCH_SIZE
        for start in range(0, len(fresh), batch):
            event = {"Records": [_sqs_record(message.body) for message in fresh[start : start + batch]]}
            with meter.invocation("dispatcher", "timer"):
                result = dispatcher.handler(event)
            if result.get("batchItemFailures"):
                raise BenchError(f"the dispatcher failed timer messages: {result['batchItemFailures']}")
    finally:
        store.clock = saved
    return len(sent)


def _exercise(
    design: Design,
    meter: Meter,
    api_key: str,
    queue: str,
    jobs: int,
    batched: bool,
    poller: Any,
    payload_for: payloads.PayloadFactory = payloads.realistic,
    heartbeats: bool = False,
) -> None:
    records: list[dict[str, Any]] = []
    poller.deliver = records.extend
    driver = ApiDriver(design.handler(), api_key, meter)
    run_lifecycles(driver, queue, jobs, batched, payload_for, heartbeats)
    if not design.downstream:
        return
    sent = 0
    for _ in range(5):  # what the dispatcher does can arm more timers: follow them
        deliver_stream(meter, poller, records)
        total = deliver_timers(meter, sent)
        if total == sent:
            return
        sent = total


def measure(
    design: Design,
    jobs: int,
    batched: bool,
    warmup_jobs: int = 10,
    payload_class: str = "realistic_1kb",
    heartbeats: bool = False,
) -> dict[str, Any]:
    """Figures per job for `jobs` lifecycles, after `warmup_jobs` unmeasured ones: a warm Lambda
    container has its lazy imports and clients already, and that is what most invocations see.
    payload_class names a generator of bench/payloads.py; heartbeats adds one heartbeat per job."""
    payload_for = payloads.CLASSES[payload_class]()
    import boto3

    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    mode = "batched" if batched else "single"
    with sandbox.in_process_aws(design.extra_tables):
        tenant = sandbox.seed_tenant(f"bench-{design.name}")
        poller = StreamPoller(settings().table_name, lambda records: None)
        poller.poll_once()  # the set-up's records (organization, key) are not the jobs'
        warm = Meter()  # counts nothing but the timer messages it must deliver
        with warm.installed():
            warmup = (f"warmup-{mode}", warmup_jobs, batched, poller, payload_for, heartbeats)
            _exercise(design, warm, tenant.api_key, *warmup)
        meter = Meter(ImageReader(boto3.session.Session().client("dynamodb")))
        with meter.installed():
            measured = (f"bench-{mode}", jobs, batched, poller, payload_for, heartbeats)
            _exercise(design, meter, tenant.api_key, *measured)
        return {
            **summarize(meter, jobs),
            "ready_shards": settings().ready_shards,
            "payload_class": payload_class,
            "payload_bytes_mean": round(mean(len(payloads.compact(payload_for(n))) for n in range(jobs))),
            "payload_own_write_units_mean": round(
                mean(math.ceil(len(payloads.compact(payload_for(n))) / 1024) for n in range(jobs)), 4
            ),
        }


# --- figures -------------------------------------------------------------------------------


def _per_job(value: float, jobs: int) -> float:
    return round(value / jobs, 4)


def summarize(meter: Meter, jobs: int) -> dict[str, Any]:
    dynamo = [c for c in meter.calls if c.service == "dynamodb"]
    steps: dict[str, dict[str, Any]] = {}
    for step in sorted({c.step for c in meter.calls} | {i.step for i in meter.invocations}):
        in_step = [c for c in dynamo if c.step == step]
        index_units: Counter[str] = Counter()
        kind_units: Counter[str] = Counter()
        for call in in_step:
            index_units.update(call.index_write_units)
            kind_units.update(call.item_kind_write_units)
        sizes = [size for call in in_step for size in call.item_bytes]
        steps[step] = {
            "write_units": _per_job(sum(c.write_units for c in in_step), jobs),
            "table_write_units": _per_job(
                sum(c.write_units - sum(c.index_write_units.values()) for c in in_step), jobs
            ),
            "index_write_units": {name: _per_job(u, jobs) for name, u in sorted(index_units.items())},
            "table_write_units_by_item": {kind: _per_job(u, jobs) for kind, u in sorted(kind_units.items())},
            "read_units": _per_job(sum(c.read_units for c in in_step), jobs),
            "item_bytes_mean": round(mean(sizes)) if sizes else 0,
            "item_bytes_max": max(sizes, default=0),
        }

    partitions: dict[str, Counter[str]] = defaultdict(Counter)
    for call in dynamo:
        for (index, partition), units in call.partition_write_units.items():
            partitions[index][partition] += units
    reads: dict[str, float] = defaultdict(float)
    for call in dynamo:
        if call.index:
            reads[call.index] += call.read_units
    indexes = {
        index: {
            "write_units_per_job": _per_job(sum(partitions[index].values()), jobs),
            "partitions_written": len(partitions[index]),
            "hottest_partition_write_units_per_job": _per_job(
                max(partitions[index].values(), default=0), jobs
            ),
            "read_units_per_job": _per_job(reads[index], jobs),
        }
        for index in sorted(set(partitions) | set(reads))
    }

    claims = [i for i in meter.invocations if i.function == "api" and i.step == "claim"]
    trips = round_trips(meter, "claim")
    claim_figures = {
        "invocations": len(claims),
        "read_units_per_call": round(steps.get("claim", {}).get("read_units", 0) * jobs / len(claims), 4)
        if claims
        else 0.0,
        "round_trips_median": sorted(trips)[len(trips) // 2] if trips else 0,
        "round_trips_max": max(trips, default=0),
    }

    calls: Counter[str] = Counter(f"{c.service}.{c.operation}" for c in meter.calls)
    functions: dict[str, dict[str, Any]] = {}
    gb_seconds = raw_gb_seconds = 0.0
    for function in sorted({i.function for i in meter.invocations}):
        runs = [i for i in meter.invocations if i.function == function]
        billed = [cost_model.billed_ms(i.own_seconds, i.calls) for i in runs]
        gb_seconds += sum(cost_model.gb_seconds(ms) for ms in billed)
        raw_gb_seconds += sum(cost_model.gb_seconds(math.ceil(i.wall_seconds * 1000)) for i in runs)
        functions[function] = {
            "invocations_per_job": _per_job(len(runs), jobs),
            "measured_ms_mean": round(mean(i.wall_seconds for i in runs) * 1000, 2),
            "own_ms_mean": round(mean(i.own_seconds for i in runs) * 1000, 2),
            "modelled_billed_ms_mean": round(mean(billed), 2),
        }
    timer_invocations = sum(1 for i in meter.invocations if i.step == "timer")
    sqs_calls = sum(n for name, n in calls.items() if name.startswith("sqs."))
    s3_puts = sum(n for name, n in calls.items() if name in ("s3.PutObject", "s3.CopyObject"))
    s3_gets = sum(n for name, n in calls.items() if name.startswith("s3.")) - s3_puts
    usage = cost_model.JobUsage(
        api_requests=len([i for i in meter.invocations if i.function == "api"]) / jobs,
        lambda_requests=len(meter.invocations) / jobs,
        lambda_gb_seconds=gb_seconds / jobs,
        write_units=sum(c.write_units for c in dynamo) / jobs,
        read_units=sum(c.read_units for c in dynamo) / jobs,
        sqs_requests=(sqs_calls + cost_model.SQS_REQUESTS_PER_QUEUE_INVOCATION * timer_invocations) / jobs,
        s3_put_requests=s3_puts / jobs,
        s3_get_requests=s3_gets / jobs,
    )
    return {
        "jobs": jobs,
        "write_units_per_job": round(usage.write_units, 4),
        "read_units_per_job": round(usage.read_units, 4),
        "api_requests_per_job": round(usage.api_requests, 4),
        "lambda_requests_per_job": round(usage.lambda_requests, 4),
        "sqs_requests_per_job": round(usage.sqs_requests, 4),
        "s3_requests_per_job": round((s3_puts + s3_gets) / jobs, 4),
        "lambda_gb_seconds_per_job": round(usage.lambda_gb_seconds, 7),
        "lambda_gb_seconds_per_job_raw": round(raw_gb_seconds / jobs, 7),
        "conditional_failures_per_job": _per_job(sum(c.conditional_failed for c in dynamo), jobs),
        "by_step": steps,
        "claim": claim_figures,
        "indexes": indexes,
        "functions": functions,
        "calls_per_job": {name: _per_job(n, jobs) for name, n in sorted(calls.items())},
        "usage": asdict(usage),
    }


def round_trips(meter: Meter, step: str) -> list[int]:
    """Sequential DynamoDB round trips of each invocation of `step`: calls on the wire at the same
    time (started before the others ended) count as one round trip."""
    by_invocation: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for call in meter.calls:
        if call.service == "dynamodb" and call.step == step and call.invocation_id:
            by_invocation[call.invocation_id].append((call.started, call.ended))
    trips = []
    for spans in by_invocation.values():
        spans.sort()
        count, end = 0, -math.inf
        for started, ended in spans:
            if started >= end:
                count += 1
                end = ended
            else:
                end = max(end, ended)
        trips.append(count)
    return trips


def partition_units(meter: Meter) -> dict[tuple[str, str], list[float]]:
    """(table or index, partition key value) -> [write units, read units] over every call."""
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for call in meter.calls:
        if call.service != "dynamodb":
            continue
        for key, units in (*call.partition_write_units.items(), *call.table_partition_write_units.items()):
            totals[key][0] += units
        for key, units in call.partition_read_units.items():
            totals[key][1] += units
    return totals
