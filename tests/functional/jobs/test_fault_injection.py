"""Throttling and 5xx on random DynamoDB and SQS calls, duplicate and late SQS deliveries, and
Lambda retrying the same event: no job is lost or completed twice, every refused request is a 503
with Retry-After (never a 500), and the official SDK's retry gets through.

The workers here behave as the SDK's do: they retry a 503 after its Retry-After, and a claim or
an ack whose answer was lost is simply lost (the lease runs out and the job comes back:
at-least-once). Figures (faults by kind) are printed for docs/reliability.md; the full size runs
with SPOOLED_FAULT_JOBS (see `make fuzz`).
"""

from __future__ import annotations

import os
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults import FaultInjector
from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

JOBS = int(os.environ.get("SPOOLED_FAULT_JOBS", "40"))
RATE = float(os.environ.get("SPOOLED_FAULT_RATE", "0.08"))
QUEUE = "faults"
VISIBILITY_TIMEOUT_MS = 30_000  # a failed timer message comes back after this (late delivery)


class Outcomes:
    """What the service answered, across every call of the test."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.unavailable_without_retry_after = 0

    def note(self, response: Any) -> None:
        self.statuses[response.status] += 1
        assert response.status != 500, f"a 500 under injected faults: {response}"
        if response.status == 503:
            assert response.json["code"] == "SERVICE_UNAVAILABLE", response
            if not response.headers.get("retry-after", "").isdigit():
                self.unavailable_without_retry_after += 1


def _listed(api: Any, outcomes: Outcomes, **filters: str) -> list[dict[str, Any]] | None:
    """Every job of the queue (matching `filters`), page by page: a page holds at most 100, and
    `make fuzz` runs 300 jobs. None when a page failed (a fault): the caller asks again later."""
    rows: list[dict[str, Any]] = []
    while True:
        params = {"queue_name": QUEUE, "limit": "100", "offset": str(len(rows)), **filters}
        page = api.get("/api/v1/jobs", params=params)
        outcomes.note(page)
        if page.status != 200:
            return None
        rows.extend(page.json)
        if len(page.json) < 100:
            return rows


def _with_retries(outcomes: Outcomes, call: Any) -> Any:
    """The SDK's behaviour on 503: come back after Retry-After (no real sleeping: the clock is fake)."""
    for _ in range(50):
        response = call()
        outcomes.note(response)
        if response.status != 503:
            return response
    raise AssertionError("still 503 after 50 tries")


class FaultyTimers:
    """The timers harness with SQS faults on sending, each message delivered on its own so a failed
    one comes back after the visibility timeout, and stream batches retried as the event source
    mapping retries them (the whole batch again)."""

    def __init__(self, timers: Timers, injector: FaultInjector) -> None:
        self.timers = timers
        self.injector = injector
        self.redelivered = 0
        self.stream_retries = 0
        sender = timers.sender
        original_send = sender.send

        def send(messages: Any) -> None:
            injector.maybe_fail("sqs", "SendMessageBatch")
            original_send(messages)

        sender.send = send  # type: ignore[method-assign]
        original_deliver = timers.deliver

        def deliver(bodies: list[str]) -> dict[str, Any]:
            for body in bodies:
                injector.maybe_fail("sqs", "ReceiveMessage")  # a lost receive: it comes back later
                result = original_deliver([body])
                if result.get("batchItemFailures"):
                    self.redelivered += 1
                    with sender._lock:
                        sender.pending.append((timers.clock.now_ms() + VISIBILITY_TIMEOUT_MS, body))
            return {"batchItemFailures": []}

        def tolerant_deliver(bodies: list[str]) -> dict[str, Any]:
            try:
                return deliver(bodies)
            except Exception as error:  # the receive itself failed: every body comes back later
                if "injected" not in str(error):
                    raise
                with sender._lock:
                    for body in bodies:
                        sender.pending.append((timers.clock.now_ms() + VISIBILITY_TIMEOUT_MS, body))
                self.redelivered += len(bodies)
                return {"batchItemFailures": []}

        timers.deliver = tolerant_deliver  # type: ignore[method-assign]

    def run_for(self, seconds: float) -> None:
        for _ in range(200):
            try:
                self.timers.run_for(seconds)
                return
            except Exception as error:  # a stream batch failed: the mapping retries it whole
                if "injected" not in str(error):
                    raise
                self.stream_retries += 1
                seconds = 0
        raise AssertionError("the stream never got through")


@pytest.fixture
def timers(api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Timers:
    return h.install(monkeypatch, clock)


def test_no_job_lost_or_completed_twice_under_aws_faults(
    api: Any, clock: Any, timers: Timers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.dispatcher.handler import handler as dispatcher

    rng = random.Random(2026)
    injector = FaultInjector(seed=12, rate=RATE)
    injector.install(monkeypatch)
    faulty = FaultyTimers(timers, injector)
    timers.duplicate = True  # every stream batch and timer message twice, every Lambda event twice
    outcomes = Outcomes()
    accepted: Counter[str] = Counter()
    runs: Counter[str] = Counter()  # handler executions, at-least-once: may exceed 1
    keys = [f"fault-{n}" for n in range(JOBS)]
    created: set[str] = set()
    sweeps_failed = 0

    with injector.active():
        for key in keys:
            body = {"queue_name": QUEUE, "payload": {"key": key}, "idempotency_key": key, "max_retries": 100}
            response = _with_retries(outcomes, lambda b=body: api.post("/api/v1/jobs", b))
            assert response.status in (200, 201), response
            created.add(response.json["id"])
        for round_ in range(600):
            worker = f"worker-{rng.randrange(4)}"
            claim = {"queue_name": QUEUE, "worker_id": worker, "lease_duration_secs": 30, "limit": 5}
            response = api.post("/api/v1/jobs/claim", claim)
            outcomes.note(response)
            jobs = response.json["jobs"] if response.status == 200 else []  # a lost claim: lease runs out
            for job in jobs:
                assert job["id"] in created
                runs[job["id"]] += 1
                fate = rng.random()
                ack = {"worker_id": worker, "lease_id": job["lease_id"]}
                if fate < 0.75:
                    path, ack = f"/api/v1/jobs/{job['id']}/complete", {**ack, "result": {"ok": job["id"]}}
                elif fate < 0.9:
                    path, ack = f"/api/v1/jobs/{job['id']}/fail", {**ack, "error": "handler failed"}
                else:
                    continue  # the worker dies holding the lease
                # The SDK retries an ack on 503; a 404/409 answer means an earlier try got through
                # or the lease was lost meanwhile: either way the worker moves on.
                done = _with_retries(outcomes, lambda p=path, a=ack: api.post(p, a))
                assert done.status in (200, 404, 409), done
                if done.status == 200 and path.endswith("/complete"):
                    accepted[job["id"]] += 1
                    assert accepted[job["id"]] == 1, f"job {job['id']} completed twice"
            faulty.run_for(rng.choice([1, 5, 31]))
            if round_ % 10 == 0:
                try:
                    dispatcher({"sweep": True})
                except Exception as error:  # the sweep reports its failed parts; the next one redoes them
                    if "injected" not in str(error) and "sweep parts failed" not in str(error):
                        raise
                    sweeps_failed += 1
            completed = _listed(api, outcomes, status="completed")
            if completed is not None and len(completed) == JOBS:
                break

    # Faults off: what the service recorded.
    faulty.run_for(61)
    rows = _listed(api, outcomes)
    assert rows is not None
    assert sorted(row["id"] for row in rows) == sorted(created), "a job was lost or created twice"
    assert {row["status"] for row in rows} == {"completed"}, Counter(row["status"] for row in rows)
    for job_id in created:
        history = h.history_types(api, job_id)
        assert history.count("completed") == 1, history
        assert h.job(api, job_id)["result"] == {"ok": job_id}
    assert set(accepted) <= created and all(n == 1 for n in accepted.values())
    assert outcomes.unavailable_without_retry_after == 0
    assert injector.injected["dynamodb:ThrottlingException"] and injector.injected["sqs:RequestThrottled"]
    assert outcomes.statuses[503] > 0, "no fault ever reached a client: the test proves nothing"
    print(
        f"\nFAULTS jobs={JOBS} injected={dict(sorted(injector.injected.items()))} total={injector.total()} "
        f"aws_calls={dict(injector.calls)} statuses={dict(sorted(outcomes.statuses.items()))} "
        f"timer_redeliveries={faulty.redelivered} stream_batch_retries={faulty.stream_retries} "
        f"failed_sweeps={sweeps_failed} handler_runs_over_one={sum(n - 1 for n in runs.values())} "
        f"lost=0 completed_twice=0"
    )


# --- the official SDK against the API under faults -------------------------------------------------


@pytest.fixture
def faulty_gateway(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, FaultInjector, Counter[int]]]:
    """The local gateway serving the real API handler on in-process moto, with DynamoDB faults."""
    from functions.api.handler import handler
    from local_stack.gateway import make_server

    injector = FaultInjector(seed=7, rate=0.05, services=("dynamodb",))
    injector.install(monkeypatch)
    answered: Counter[int] = Counter()
    lock = threading.Lock()  # in-process moto is not thread-safe: one request at a time

    def serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            result = handler(event, context)
        answered[result["statusCode"]] += 1
        return result

    server = make_server("127.0.0.1", 0, serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", injector, answered
    finally:
        server.shutdown()
        server.server_close()


def test_the_sdk_retries_through_503s(faulty_gateway: Any, org: Any) -> None:
    from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient

    base_url, injector, answered = faulty_gateway
    client = SpooledClient(
        api_key=org.api_key,
        base_url=base_url,
        retry=RetryConfig(max_retries=10, base_delay=0.01, max_delay=0.05),
        circuit_breaker=CircuitBreakerConfig(enabled=False),
    )
    try:
        with injector.active():
            ids = [
                client.jobs.create(
                    {
                        "queue_name": "sdk-faults",
                        "payload": {"n": n},
                        "idempotency_key": f"sdk-{n}-{uuid.uuid4()}",
                    }
                ).id
                for n in range(15)
            ]
            for job_id in ids:
                assert client.jobs.get(job_id).status == "pending"
            listed = client.jobs.list({"queue_name": "sdk-faults", "limit": 100})
    finally:
        client.close()
    assert sorted(row.id for row in listed) == sorted(ids)  # each create once, despite retries
    assert answered[503] > 0 and injector.total() > 0
    assert answered[500] == 0, answered
