"""Producing jobs through the SDK: idempotent creates, and the order claims hand jobs out in."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from spooled import SpooledClient

from tests.e2e.conftest import ClientFactory

pytestmark = pytest.mark.e2e


def test_the_same_idempotency_key_returns_the_first_job(client: SpooledClient, queue_name: str) -> None:
    key = f"welcome-{uuid.uuid4()}"
    first = client.jobs.create({"queue_name": queue_name, "payload": {"v": 1}, "idempotency_key": key})
    second = client.jobs.create(
        {"queue_name": queue_name, "payload": {"v": 2}, "idempotency_key": key, "priority": 50}
    )
    # The key is scoped to the organization, not the queue.
    elsewhere = client.jobs.create(
        {"queue_name": f"{queue_name}-other", "payload": {}, "idempotency_key": key}
    )

    assert first.created is True
    assert (second.id, second.created) == (first.id, False)
    assert (elsewhere.id, elsewhere.created) == (first.id, False)
    job = client.jobs.get(first.id)
    assert (job.payload, job.priority, job.idempotency_key) == ({"v": 1}, 0, key)
    assert [row.id for row in client.jobs.list({"queue_name": queue_name})] == [first.id]
    assert list(client.jobs.list({"queue_name": f"{queue_name}-other"})) == []


def test_concurrent_creates_with_one_key_make_one_job(make_client: ClientFactory, queue_name: str) -> None:
    key = f"race-{uuid.uuid4()}"
    clients = [make_client() for _ in range(8)]
    start = threading.Barrier(len(clients))

    def create(client: SpooledClient) -> tuple[str, bool]:
        start.wait()
        response = client.jobs.create({"queue_name": queue_name, "payload": {}, "idempotency_key": key})
        return response.id, response.created

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(create, clients))

    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len(clients[0].jobs.list({"queue_name": queue_name})) == 1


def test_bulk_duplicates_collapse_to_the_first_items_job(client: SpooledClient, queue_name: str) -> None:
    key = f"bulk-{uuid.uuid4()}"
    response = client.jobs.bulk_enqueue(
        {
            "queue_name": queue_name,
            "jobs": [
                {"payload": {"i": 0}, "idempotency_key": key},
                {"payload": {"i": 1}},
                {"payload": {"i": 2}, "idempotency_key": key},
            ],
        }
    )
    rows = sorted(response.succeeded, key=lambda row: row.index)
    assert (response.total, response.success_count, response.failure_count) == (3, 3, 0)
    assert [(row.index, row.created) for row in rows] == [(0, True), (1, True), (2, False)]
    assert rows[2].job_id == rows[0].job_id != rows[1].job_id
    assert client.jobs.get(rows[0].job_id).payload == {"i": 0}


def test_claims_follow_priority_then_fifo(client: SpooledClient, queue_name: str) -> None:
    priorities = [0, 5, -3, 5, 100, 0, -100, 42, 5, 0, -3, 100]
    ids = [
        client.jobs.create({"queue_name": queue_name, "payload": {"seq": seq}, "priority": priority}).id
        for seq, priority in enumerate(priorities)
    ]
    # Boosting a waiting job re-sorts it: seq 10 now ties the two 100s and keeps its place in
    # creation order, between seq 4 and seq 11.
    boosted = client.jobs.boost_priority(ids[10], 100)
    assert (boosted.old_priority, boosted.new_priority) == (-3, 100)
    priorities[10] = 100

    claimed: list[int] = []
    for _ in priorities:
        jobs = client.jobs.claim({"queue_name": queue_name, "worker_id": "order-check", "limit": 1}).jobs
        assert len(jobs) == 1
        claimed.append(jobs[0].payload["seq"])
        client.jobs.complete(jobs[0].id, {"worker_id": "order-check", "lease_id": jobs[0].lease_id})

    expected = sorted(range(len(priorities)), key=lambda seq: (-priorities[seq], seq))
    assert claimed == expected
    assert client.jobs.claim({"queue_name": queue_name, "worker_id": "order-check"}).jobs == []


def test_contention_on_another_queue_leaves_claim_order_strict(
    make_client: ClientFactory, queue_name: str
) -> None:
    # Claimers racing for the head of a busy queue make the service spread their claims at random;
    # a quiet queue served meanwhile must still hand jobs out in strict priority/FIFO order.
    busy = f"{queue_name}-busy"
    producer = make_client()
    producer.jobs.bulk_enqueue({"queue_name": busy, "jobs": [{"payload": {}} for _ in range(20)]})
    racers = [make_client() for _ in range(4)]
    start = threading.Barrier(len(racers))

    def race(index: int) -> None:
        start.wait()
        while jobs := racers[index].jobs.claim({"queue_name": busy, "worker_id": f"r{index}"}).jobs:
            racers[index].jobs.complete(jobs[0].id, {"worker_id": f"r{index}", "lease_id": jobs[0].lease_id})

    with ThreadPoolExecutor(len(racers)) as pool:
        list(pool.map(race, range(len(racers))))

    priorities = [0, 1, 0, 1, 0, 1]
    for seq, priority in enumerate(priorities):
        producer.jobs.create({"queue_name": queue_name, "payload": {"seq": seq}, "priority": priority})
    claimed: list[int] = []
    for _ in priorities:
        [job] = producer.jobs.claim({"queue_name": queue_name, "worker_id": "quiet"}).jobs
        claimed.append(job.payload["seq"])
    assert claimed == [1, 3, 5, 0, 2, 4]
