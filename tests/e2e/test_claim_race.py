"""Eight SDK clients race to drain one queue: every job is claimed exactly once and completed.

make dev serves every claim through one store, whose claimers skip a job another of them is writing
(shared/jobs/claim_policy.py, "Own claims"), so here the clients race for the queue's head but
their conditional writes do not collide. Colliding conditional writes, each claimer with a store of
its own as each Lambda container has, are tests/functional/jobs/test_claim_race.py's."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from spooled import SpooledClient

from tests.e2e.conftest import ClientFactory

pytestmark = pytest.mark.e2e

JOBS = 300
BATCH = 100  # the most one bulk enqueue takes
CLAIMERS = 8
DRAIN_DEADLINE_SECONDS = 120.0  # a hang guard; draining takes a fraction of it


def _enqueue(client: SpooledClient, queue_name: str) -> list[str]:
    ids: list[str] = []
    for start in range(0, JOBS, BATCH):
        response = client.jobs.bulk_enqueue(
            {"queue_name": queue_name, "jobs": [{"payload": {"n": n}} for n in range(start, start + BATCH)]}
        )
        assert (response.success_count, response.failure_count) == (BATCH, 0)
        ids += [row.job_id for row in sorted(response.succeeded, key=lambda row: row.index) if row.job_id]
    return ids


def test_concurrent_claimers_take_every_job_exactly_once(make_client: ClientFactory, queue_name: str) -> None:
    producer = make_client()
    created = _enqueue(producer, queue_name)
    assert len(set(created)) == JOBS

    clients = [make_client() for _ in range(CLAIMERS)]
    start = threading.Barrier(CLAIMERS)
    lock = threading.Lock()
    claims_total = 0
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS

    def drain(index: int) -> list[str]:
        nonlocal claims_total
        client, worker_id, rng = clients[index], f"racer-{index}", random.Random(index)
        mine: list[str] = []
        start.wait()
        while True:
            jobs = client.jobs.claim(
                {"queue_name": queue_name, "worker_id": worker_id, "limit": rng.randint(1, 10)}
            ).jobs
            with lock:
                claims_total += len(jobs)
                drained = claims_total >= JOBS
            if not jobs:
                # Empty while jobs remain only when this claimer lost every race it ran; once every
                # job has been handed out, an empty claim means the queue is empty.
                if drained:
                    return mine
                if time.monotonic() > deadline:
                    raise AssertionError(f"{worker_id} gave up with {JOBS - claims_total} jobs unclaimed")
                continue
            for job in jobs:
                mine.append(job.id)
                client.jobs.complete(
                    job.id, {"worker_id": worker_id, "lease_id": job.lease_id, "result": {"by": index}}
                )

    with ThreadPoolExecutor(CLAIMERS) as pool:
        per_claimer = list(pool.map(drain, range(CLAIMERS)))

    claimed = [job_id for ids in per_claimer for job_id in ids]
    duplicates = {job_id: n for job_id, n in Counter(claimed).items() if n > 1}
    assert duplicates == {}
    assert set(claimed) == set(created)
    assert len(claimed) == JOBS

    statuses: Counter[str] = Counter()
    for start_at in range(0, JOBS, 100):
        statuses.update(row.status for row in producer.jobs.batch_status(created[start_at : start_at + 100]))
    assert statuses == Counter({"completed": JOBS})
    assert producer.jobs.claim({"queue_name": queue_name, "worker_id": "after-the-race"}).jobs == []
    print(f"jobs per claimer: {[len(ids) for ids in per_claimer]}")
