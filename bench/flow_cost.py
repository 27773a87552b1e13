"""Part 8: what flow control (docs/flow-control.md) costs a claim, in DynamoDB write units.

In-process moto, single-threaded (the meter prices each write from the item's images). One queue
per scenario: no limits, rate_limit only, settings.max_concurrency only, both. Each job is claimed
(limit 1) and completed through the job service; the dispatcher's stream pass (where slots of jobs
that left processing are released as a backstop) is metered too. Claims of an empty queue are
counted apart: a rate-limited queue draws a token and refunds it when there is no job.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench import sandbox
from bench.meter import ImageReader, Meter

SCENARIOS: dict[str, dict[str, Any]] = {
    "none": {},
    "rate_limit": {"rate_limit": 100_000},
    "max_concurrency": {"settings": {"max_concurrency": 1_000}},
    "both": {"rate_limit": 100_000, "settings": {"max_concurrency": 1_000}},
}
EMPTY_CLAIMS = 5


def _run(meter: Meter, service: Any, ctx: Any, queue: str, jobs: int, poller: Any, empty: int = 0) -> None:
    from functions.dispatcher.handler import handle_stream
    from shared.jobs import requests as m

    for _ in range(jobs):
        with meter.invocation("api", "claim"):
            [job] = service.claim(ctx, m.Claim(queue_name=queue, worker_id="bench", limit=1))["jobs"]
        with meter.invocation("api", "complete"):
            service.complete(ctx, job["id"], m.Complete(worker_id="bench", lease_id=job["lease_id"]))
        with meter.paused():
            records: list[dict[str, Any]] = []
            poller.deliver = records.extend
            while poller.poll_once():
                pass
        with meter.invocation("dispatcher", "stream"):
            handle_stream(records)
    for _ in range(empty):  # the queue has no job left by now
        with meter.invocation("api", "empty_claim"):
            service.claim(ctx, m.Claim(queue_name=queue, worker_id="bench", limit=1))


def measure(jobs: int) -> dict[str, Any]:
    import boto3

    from local_stack.stream_poller import StreamPoller
    from shared.identity.credentials import AuthContext
    from shared.identity.requests import QueueConfigUpdate
    from shared.jobs.queues.config import QueueConfigService
    from shared.jobs.service import JobService
    from shared.jobs.store import NewJob
    from shared.plumbing.config import settings

    rows: dict[str, dict[str, float]] = {}
    with sandbox.in_process_aws(()):
        tenant = sandbox.seed_tenant("bench-flow")
        ctx = AuthContext(org_id=tenant.org_id, api_key_id="bench")
        poller = StreamPoller(settings().table_name, lambda records: None)
        for name, config in SCENARIOS.items():
            queue = f"flow-{name.replace('_', '-')}"
            QueueConfigService().update_config(ctx, queue, QueueConfigUpdate(**config))
            service = JobService()
            service.store.create_many(
                [
                    NewJob(
                        org_id=tenant.org_id,
                        queue_name=queue,
                        payload_text='{"n":1}',
                        priority=0,
                        max_retries=3,
                        timeout_seconds=600,
                    )
                    for _ in range(jobs + 1)
                ]
            )
            while poller.poll_once():
                pass
            # One unmeasured lifecycle: lazy imports, clients and the queue's flow items exist.
            _run(Meter(), service, ctx, queue, 1, poller)
            meter = Meter(ImageReader(boto3.session.Session().client("dynamodb")))
            with meter.installed():
                _run(meter, service, ctx, queue, jobs, poller, EMPTY_CLAIMS)
            units: dict[str, float] = defaultdict(float)
            for call in meter.calls:
                if call.service == "dynamodb":
                    units[call.step] += call.write_units
            rows[name] = {
                "wru_per_claim": round(units["claim"] / jobs, 2),
                "wru_per_complete": round(units["complete"] / jobs, 2),
                "wru_stream_per_job": round(units["stream"] / jobs, 2),
                "wru_per_empty_claim": round(units["empty_claim"] / EMPTY_CLAIMS, 2),
            }
    base = rows["none"]
    for row in rows.values():
        row["extra_wru_per_job"] = round(
            sum(row[k] - base[k] for k in ("wru_per_claim", "wru_per_complete", "wru_stream_per_job")), 2
        )
    return {
        "jobs": jobs,
        "scenarios": rows,
        "note": (
            "Write units metered on in-process moto, one claim (limit 1) and one complete per job, and the "
            "dispatcher's stream pass. A conditional write that fails still costs its units; under "
            "contention a concurrency slot can also cost a failed reserve or an undo per lost race."
        ),
    }
