"""Workflows through the official SDK against the local stack: the README's DAG run by a worker,
releases driven by the table's stream, dependencies added to plain jobs, retry of a failed run."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from spooled import SpooledClient, SpooledWorker
from spooled.errors import ValidationError
from spooled.worker.types import JobContext

from tests.e2e.sdk_helpers import running, wait_for_status, wait_until

pytestmark = pytest.mark.e2e

FAST_POLL = 0.1


def _wait_for_workflow(client: SpooledClient, workflow_id: str, status: str) -> Any:
    seen: list[str] = []

    def probe() -> Any:
        current = client.workflows.get(workflow_id)
        if not seen or seen[-1] != current.status:
            seen.append(str(current.status))
        return current if current.status == status else None

    try:
        return wait_until(probe, f"workflow {workflow_id} to be {status}")
    except AssertionError as error:
        raise AssertionError(f"{error}; statuses seen: {seen}") from None


def test_an_etl_dag_runs_to_completed_with_one_worker(client: SpooledClient, queue_name: str) -> None:
    created = client.workflows.create(
        {
            "name": "Nightly ETL",
            "description": "extract, two transforms, load",
            "metadata": {"run": "2026-11-28"},
            "jobs": [
                {"key": "extract", "queue_name": queue_name, "payload": {"step": "extract"}},
                {
                    "key": "users",
                    "queue_name": queue_name,
                    "payload": {"step": "users"},
                    "depends_on": ["extract"],
                },
                {
                    "key": "orders",
                    "queue_name": queue_name,
                    "payload": {"step": "orders"},
                    "depends_on": ["extract"],
                },
                {
                    "key": "load",
                    "queue_name": queue_name,
                    "payload": {"step": "load"},
                    "depends_on": ["users", "orders"],
                },
            ],
        }
    )
    assert created.status == "pending"
    keys = {row.key: row.job_id for row in created.job_ids}
    assert list(keys) == ["extract", "users", "orders", "load"]

    done: list[str] = []
    lock = threading.Lock()
    worker = SpooledWorker(client, queue_name, poll_interval=FAST_POLL, concurrency=4)

    @worker.process
    def handle(ctx: JobContext) -> dict[str, Any]:
        with lock:
            done.append(ctx.payload["step"])
        return {"step": ctx.payload["step"]}

    with running(worker) as errors:
        finished = _wait_for_workflow(client, created.workflow_id, "completed")
    assert errors == []

    assert done[0] == "extract" and done[-1] == "load" and sorted(done[1:3]) == ["orders", "users"]
    assert (finished.total_jobs, finished.completed_jobs, finished.progress_percent) == (4, 4, 100.0)
    assert finished.completed_at is not None and finished.metadata == {"run": "2026-11-28"}
    rows = {job.key: job for job in client.workflows.jobs.list(created.workflow_id)}
    assert set(rows) == set(keys)
    assert sorted(rows["load"].depends_on or []) == sorted([keys["users"], keys["orders"]])
    assert rows["load"].result == {"step": "load"} and rows["load"].status == "completed"
    statuses = client.workflows.jobs.get_status(created.workflow_id)
    assert {(s.key, s.status) for s in statuses} == {(key, "completed") for key in keys}
    assert created.workflow_id in [wf.id for wf in client.workflows.list({"status": "completed"})]
    assert client.jobs.get(keys["load"]).workflow_id == created.workflow_id


def test_dependencies_added_to_plain_jobs_hold_them_back(client: SpooledClient, queue_name: str) -> None:
    parent = client.jobs.create({"queue_name": f"{queue_name}-up", "payload": {"n": 1}}).id
    child = client.jobs.create({"queue_name": queue_name, "payload": {"n": 2}}).id
    added = client.workflows.jobs.add_dependencies(child, {"dependency_job_ids": [parent, child]})
    assert (added.added_count, added.dependencies_met) == (1, False)
    deps = client.workflows.jobs.get_dependencies(child)
    assert [(d.job_id, d.completed) for d in deps.dependencies] == [(parent, False)]
    early = client.jobs.claim({"queue_name": queue_name, "worker_id": "early-bird", "limit": 10})
    assert early.jobs == []  # gated: not handed out before its dependency completes

    upstream = SpooledWorker(client, f"{queue_name}-up", poll_interval=FAST_POLL)
    upstream.process(lambda ctx: {"ok": True})
    downstream = SpooledWorker(client, queue_name, poll_interval=FAST_POLL)
    downstream.process(lambda ctx: {"ok": True})
    with running(upstream), running(downstream):
        wait_for_status(client, child, "completed")
    assert client.workflows.jobs.get_dependencies(child).dependencies_met is True


def test_a_failed_workflow_is_retried_and_completes(client: SpooledClient, queue_name: str) -> None:
    created = client.workflows.create(
        {
            "name": "Flaky import",
            "jobs": [
                {"key": "fetch", "queue_name": queue_name, "payload": {"step": "fetch"}, "max_retries": 0},
                {
                    "key": "store",
                    "queue_name": queue_name,
                    "payload": {"step": "store"},
                    "depends_on": ["fetch"],
                },
            ],
        }
    )
    keys = {row.key: row.job_id for row in created.job_ids}
    broken = SpooledWorker(client, queue_name, poll_interval=FAST_POLL)

    @broken.process
    def fail(ctx: JobContext) -> None:
        raise RuntimeError("upstream is down")

    with running(broken):
        _wait_for_workflow(client, created.workflow_id, "failed")
    assert client.jobs.get(keys["store"]).status == "cancelled"
    idle = client.workflows.create(
        {"name": "Idle", "jobs": [{"key": "a", "queue_name": f"{queue_name}-idle", "payload": {}}]}
    )
    with pytest.raises(ValidationError):  # only a failed workflow can be retried
        client.workflows.retry(idle.workflow_id)
    assert client.workflows.cancel(idle.workflow_id).status == "cancelled"

    assert client.workflows.retry(created.workflow_id).status == "running"
    fixed = SpooledWorker(client, queue_name, poll_interval=FAST_POLL)
    fixed.process(lambda ctx: {"ok": True})
    with running(fixed):
        _wait_for_workflow(client, created.workflow_id, "completed")
    assert client.jobs.get(keys["fetch"]).retry_count == 0
