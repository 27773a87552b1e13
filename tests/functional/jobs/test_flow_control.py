"""Flow control per queue (docs/flow-control.md): `rate_limit` (a token bucket claims draw from) and
`settings.max_concurrency` (jobs processing at once), opt-in through the queue's configuration.

The races run 16 claimers against local_stack.embedded_moto.EmbeddedMoto (one lock per AWS call, so
conditional writes are atomic; see test_claim_race.py), each with its own JobService as each Lambda
container would have, all reading "now" from one clock the test moves, so windows are exact.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.functional.jobs_api import JOBS, V1, create_job

ORG = "org-flow"
CLAIMERS = 16


class SharedClock:
    def __init__(self, now_ms: int = 1_767_225_600_000) -> None:
        self._now_ms = now_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now_ms

    def advance_ms(self, ms: int) -> None:
        with self._lock:
            self._now_ms += ms


def _ctx() -> Any:
    from shared.identity.credentials import AuthContext

    return AuthContext(org_id=ORG, api_key_id="key-flow")


def _configure(queue: str, rate_limit: int | None = None, **settings: Any) -> None:
    from shared.identity.requests import QueueConfigUpdate
    from shared.jobs.queues.config import QueueConfigService

    update = QueueConfigUpdate(rate_limit=rate_limit, settings=settings or None)
    QueueConfigService().update_config(_ctx(), queue, update)


def _fill(queue: str, count: int, clock: SharedClock, max_retries: int = 5) -> list[str]:
    from shared.jobs.store import JobStore, NewJob

    jobs = [
        NewJob(
            org_id=ORG,
            queue_name=queue,
            payload_text=f'{{"n":{n}}}',
            priority=0,
            max_retries=max_retries,
            timeout_seconds=600,
        )
        for n in range(count)
    ]
    return [job_id for job_id, _ in JobStore(clock=clock).create_many(jobs)]


def _service(clock: SharedClock, seed: str) -> Any:
    from shared.jobs.service import JobService
    from shared.jobs.store import JobStore

    return JobService(JobStore(clock=clock, rng=random.Random(seed)))


def _claim(service: Any, queue: str, worker: str, limit: int, lease: int = 30) -> list[dict[str, Any]]:
    from shared.jobs import requests as m

    req = m.Claim(queue_name=queue, worker_id=worker, limit=limit, lease_duration_secs=lease)
    return service.claim(_ctx(), req)["jobs"]


def _run_all(work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_rate_limit_5_starts_at_most_5_per_second_plus_the_burst_in_any_window(moto_server: str) -> None:
    """16 claimers claim at every step of 100 ms for 4 s; the bucket (rate 5, burst 5) decides."""
    clock = SharedClock()
    _configure("rated", rate_limit=5)
    _fill("rated", 80, clock)
    steps, step_ms = 40, 100
    started: list[int] = []  # the clock at each job's claim
    lock = threading.Lock()
    barrier = threading.Barrier(CLAIMERS, action=lambda: clock.advance_ms(step_ms))

    def claimer(n: int) -> None:
        service = _service(clock, f"rated-{n}")
        for _ in range(steps):
            jobs = _claim(service, "rated", f"w{n}", 1 + n % 3, lease=3600)
            with lock:
                started.extend(clock.now_ms() for _ in jobs)
            barrier.wait()

    t0 = clock.now_ms()
    _run_all(claimer)
    times = sorted(started)
    rate, burst = 5, 5
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            window_s = (times[j] - first) / 1000
            assert j - i + 1 <= rate * window_s + burst, (first - t0, times[j] - t0, j - i + 1)
    # Not starved either: the bucket hands out its rate (burst + 5/s over the 3.9 s of claims).
    assert len(times) >= burst + rate * 3
    print(
        f"rate_limit 5: {len(times)} jobs started over {steps * step_ms / 1000:.1f} s by {CLAIMERS} claimers"
    )


def _processing(store: Any, job_ids: list[str]) -> int:
    # One consistent BatchGetItem: a snapshot (moto answers it under one lock), where a listing
    # reads the job partitions one after another while the claimers move jobs between them.
    return sum(1 for job in store.get_many(ORG, job_ids) if job.status == "processing")


def test_max_concurrency_3_never_has_more_than_3_processing(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claimers complete, fail, or die (their lease expires; some are released as offline workers);
    the stream releases slots as on AWS. After every claim, at most 3 jobs are processing."""
    from functions.dispatcher import handler as dispatcher
    from functions.dispatcher.handler import handle_stream
    from local_stack.stream_poller import StreamPoller
    from shared.jobs import requests as m
    from shared.jobs import timers as job_timers
    from shared.jobs.store import JobStore
    from shared.jobs.workers.registry import WorkerRegistry
    from shared.plumbing.config import settings
    from shared.plumbing.timer_queue import InMemorySender, TimerQueue, decode

    clock = SharedClock()
    _configure("capped", max_concurrency=3)
    job_ids = _fill("capped", 24, clock, max_retries=1)
    checker = JobStore(clock=clock)
    # The dispatch queue on the test's clock: lease checks and backoff wakes fire as the clock moves.
    sender = InMemorySender(clock)
    timer_queue = TimerQueue(sender, clock)
    monkeypatch.setattr(dispatcher, "timer_queue", lambda: timer_queue)
    done = threading.Event()
    observed: list[int] = []
    lock = threading.Lock()
    dead_workers: list[str] = []
    released: list[int] = []

    def pump() -> None:
        poller = StreamPoller(settings().table_name, handle_stream)
        while not done.is_set():
            with lock:
                dead, dead_workers[:] = list(dead_workers), []
            poller.poll_once()  # first: the stream keeps each worker's held jobs
            for worker in dead:  # the stale-worker sweep, as the scheduler runs it
                released.append(checker.release_from_offline_worker(ORG, "capped", worker))
            for body in sender.receive():  # the dispatcher's timer messages
                timer_queue.arm(job_timers.fire(checker, decode(body), lambda _seconds: None))
            clock.advance_ms(5_000)  # a 30 s lease ends after 6 rounds

    def settled() -> bool:
        return all(checker.get(ORG, job_id).status in ("completed", "deadletter") for job_id in job_ids)

    def claimer(n: int) -> None:
        service = _service(clock, f"capped-{n}")
        registry = WorkerRegistry(settings().table_name, clock)
        rng = random.Random(n)
        empty = 0
        for _ in range(400):
            worker = f"w{n}-{rng.randrange(1_000_000)}"
            # Registered, as SDK workers are: the stale-worker sweep only knows registered workers.
            registry.register(ORG, queue_name="capped", hostname="test", worker_id=worker)
            jobs = _claim(service, "capped", worker, 1 + n % 2)
            count = _processing(checker, job_ids)
            with lock:
                observed.append(count)
            for job in jobs:
                roll = rng.random()
                if roll < 0.5:
                    complete = m.Complete(worker_id=worker, lease_id=job["lease_id"])
                    with contextlib.suppress(Exception):  # the lease ended meanwhile: someone else's now
                        service.complete(_ctx(), job["id"], complete)
                elif roll < 0.7:
                    with contextlib.suppress(Exception):
                        service.fail(
                            _ctx(),
                            job["id"],
                            m.Fail(worker_id=worker, error="boom", lease_id=job["lease_id"]),
                        )
                elif roll < 0.85:
                    with lock:
                        dead_workers.append(worker)  # dies; the offline-worker sweep releases it
                # else: dies silently; its lease expires
            empty = 0 if jobs else empty + 1
            if empty and empty % 5 == 0 and settled():
                return

    pumping = threading.Thread(target=pump)
    pumping.start()
    try:
        _run_all(claimer)
    finally:
        done.set()
        pumping.join()
    assert observed and max(observed) <= 3, max(observed)
    assert 3 in observed  # the cap was reached, not just respected
    assert settled()
    # Every slot came back: complete, fail, expiry and offline release all gave theirs.
    poller = StreamPoller(settings().table_name, handle_stream)
    while poller.poll_once():
        pass
    import boto3

    slots = boto3.client("dynamodb").get_item(
        TableName=settings().table_name, Key={"pk": {"S": f"FLOW#{ORG}#capped"}, "sk": {"S": "CONC#00"}}
    )["Item"]
    assert slots["held"] == {"N": "0"}
    assert not [name for name in slots if name.startswith("h#")]
    print(f"max_concurrency 3: {len(observed)} claims checked, at most {max(observed)} processing")
    assert sum(released) > 0  # workers died holding jobs, and the offline release took them back


def test_a_queue_without_limits_claims_as_before_and_limits_come_from_the_queue_config(
    api: ApiClient,
) -> None:
    for _ in range(4):
        create_job(api, "plain")
        create_job(api, "limited")
    claimed = api.post(f"{JOBS}/claim", {"queue_name": "plain", "worker_id": "w", "limit": 4}).json["jobs"]
    assert len(claimed) == 4
    config = {"rate_limit": 2, "settings": {"max_concurrency": 1}}
    assert api.put(f"{V1}/queues/limited/config", config).status == 200
    first = api.post(f"{JOBS}/claim", {"queue_name": "limited", "worker_id": "w", "limit": 4})
    assert first.status == 200 and len(first.json["jobs"]) == 1  # one slot
    second = api.post(f"{JOBS}/claim", {"queue_name": "limited", "worker_id": "w", "limit": 4})
    assert second.status == 200 and second.json["jobs"] == []  # fewer, never an error
    job = first.json["jobs"][0]
    done = api.post(f"{JOBS}/{job['id']}/complete", {"worker_id": "w", "lease_id": job["lease_id"]})
    assert done.status == 200
    third = api.post(f"{JOBS}/claim", {"queue_name": "limited", "worker_id": "w", "limit": 4})
    assert len(third.json["jobs"]) == 1  # the slot came back at complete, and the bucket had a token
    fourth = api.post(f"{JOBS}/claim", {"queue_name": "limited", "worker_id": "w", "limit": 4})
    assert fourth.json["jobs"] == []
