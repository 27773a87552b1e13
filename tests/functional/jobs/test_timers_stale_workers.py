"""Stale workers: no heartbeat for 2 minutes → offline at the next sweep, and their jobs released."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs import expressions as ex
from shared.plumbing import dynamo_codec
from tests.functional import timers_harness as h
from tests.functional.timers_harness import Timers

QUEUE = "stale"
LONG_LEASE = 3600  # longer than the 2 minutes: only the stale-worker rule can free these jobs


@pytest.fixture
def timers(api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Timers:
    return h.install(monkeypatch, clock)


def _register(api: Any, worker_id: str) -> None:
    response = api.post(
        "/api/v1/workers/register", {"queue_name": QUEUE, "hostname": "host-1", "worker_id": worker_id}
    )
    assert response.status == 201, response


def _heartbeat(api: Any, worker_id: str) -> Any:
    return api.post(f"/api/v1/workers/{worker_id}/heartbeat", {"current_jobs": 1})


def _stored_worker(worker_id: str) -> dict[str, Any]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    found = aws_clients.client("dynamodb").scan(
        TableName=settings().table_name,
        FilterExpression="sk = :sk AND id = :id",
        ExpressionAttributeValues={":sk": {"S": "WORKER"}, ":id": {"S": worker_id}},
    )
    (item,) = found["Items"]
    return dynamo_codec.decode_item(item)


def _sweep() -> dict[str, Any]:
    from functions.dispatcher.handler import handler

    return handler({"sweep": True})


def test_a_silent_worker_goes_offline_and_its_jobs_come_back(api: Any, clock: Any, timers: Timers) -> None:
    _register(api, "silent")
    _register(api, "alive")
    silent_jobs = [h.create(api, queue_name=QUEUE) for _ in range(2)]
    claimed = h.claim(api, QUEUE, worker="silent", lease=LONG_LEASE, limit=2)
    alive_job = h.create(api, queue_name=QUEUE)
    (kept,) = h.claim(api, QUEUE, worker="alive", lease=LONG_LEASE)
    assert {job["id"] for job in claimed} == set(silent_jobs) and kept["id"] == alive_job

    for _ in range(4):  # "alive" heartbeats every 29.75 s, "silent" never does
        timers.run_for(29.75)
        assert _heartbeat(api, "alive").status == 200
    assert _sweep()["workers_offline"] == 0  # 119 s of silence is not yet two minutes
    timers.run_for(1)
    result = _sweep()
    assert result["workers_offline"] == 1 and result["jobs_released"] == 2

    assert _stored_worker("silent")["status"] == "offline"
    assert "timer_pk" not in _stored_worker("silent")  # out of the live registry
    assert _stored_worker("alive")["status"] == "healthy"
    for job_id in silent_jobs:
        document = h.job(api, job_id)
        assert document["status"] == "pending" and document["retry_count"] == 1
        assert document["last_error"] == "Worker went offline"
    assert h.job(api, alive_job)["status"] == "processing"

    # The silent worker's late acks change nothing; the jobs go to someone else after the backoff.
    late = api.post(
        f"/api/v1/jobs/{claimed[0]['id']}/complete",
        {"worker_id": "silent", "lease_id": claimed[0]["lease_id"]},
    )
    assert late.status == 409
    timers.run_for(2)
    assert {job["id"] for job in h.claim(api, QUEUE, worker="alive", limit=5)} == set(silent_jobs)
    # A second sweep finds nothing more to do.
    assert _sweep()["workers_offline"] == 0


def test_the_sweep_is_idempotent_and_leaves_fresh_workers_alone(api: Any, clock: Any, timers: Timers) -> None:
    _register(api, "w1")
    job_id = h.create(api, queue_name=QUEUE)
    h.claim(api, QUEUE, worker="w1", lease=LONG_LEASE)
    timers.run_for(119)
    assert _sweep()["workers_offline"] == 0  # 1 s short of the 2 minutes
    timers.run_for(1)
    first, second = _sweep(), _sweep()
    assert (first["workers_offline"], first["jobs_released"]) == (1, 1)
    assert (second["workers_offline"], second["jobs_released"]) == (0, 0)
    assert h.job(api, job_id)["retry_count"] == 1


def test_a_released_job_on_its_last_retry_is_dead_lettered(api: Any, clock: Any, timers: Timers) -> None:
    _register(api, "w2")
    job_id = h.create(api, queue_name=QUEUE, max_retries=0)
    h.claim(api, QUEUE, worker="w2", lease=LONG_LEASE)
    timers.run_for(121)
    assert _sweep()["jobs_released"] == 1
    document = h.job(api, job_id)
    assert document["status"] == "deadletter"
    assert document["last_error"] == "Max retries exceeded after worker went offline"


def test_a_worker_that_comes_back_rejoins_the_registry(api: Any, clock: Any, timers: Timers) -> None:
    _register(api, "w3")
    timers.run_for(121)
    assert _sweep()["workers_offline"] == 1
    assert _heartbeat(api, "w3").status == 200
    stored = _stored_worker("w3")
    assert stored["status"] == "healthy" and stored["timer_pk"] == ex.LIVE_WORKERS_PARTITION
    timers.run_for(121)
    assert _sweep()["workers_offline"] == 1  # watched again, and stale again


def test_a_deregistered_worker_leaves_the_registry(api: Any, clock: Any, timers: Timers) -> None:
    _register(api, "w4")
    assert api.post("/api/v1/workers/w4/deregister").status == 204
    assert "timer_pk" not in _stored_worker("w4")
    timers.run_for(121)
    assert _sweep()["workers_offline"] == 0


def test_a_worker_reporting_offline_itself_is_dropped_from_the_registry(
    api: Any, clock: Any, timers: Timers
) -> None:
    _register(api, "w5")
    response = api.post("/api/v1/workers/w5/heartbeat", {"current_jobs": 0, "status": "offline"})
    assert response.status == 200
    _sweep()
    assert "timer_pk" not in _stored_worker("w5")


def test_one_worker_that_cannot_be_released_does_not_hold_up_the_others(
    api: Any, clock: Any, timers: Timers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12, finding 9: the sweep stopped at the first worker whose release failed."""
    from functions.dispatcher import handler
    from shared.jobs.store import JobStore
    from shared.jobs.workers import stale

    for name in ("a-first", "b-second"):
        _register(api, name)
        h.create(api, queue_name=QUEUE)
        h.claim(api, QUEUE, worker=name, lease=LONG_LEASE)
    timers.run_for(121)
    real = JobStore.release_from_offline_worker

    def flaky(self: Any, org_id: str, queue: str, worker_id: str) -> int:
        if worker_id == "a-first":
            raise RuntimeError("throttled")
        return real(self, org_id, queue, worker_id)

    monkeypatch.setattr(JobStore, "release_from_offline_worker", flaky)
    with pytest.raises(RuntimeError, match="a-first"):
        stale.sweep(handler.store())
    assert _stored_worker("b-second")["status"] == "offline"
    assert _stored_worker("a-first")["status"] == "healthy"  # the next sweep tries again
