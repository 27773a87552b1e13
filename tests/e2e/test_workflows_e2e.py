"""Workflows through the official SDK against the local stack: the README's DAG run by a worker,
releases driven by the table's stream, dependencies added to plain jobs, retry of a failed run."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from spooled import SpooledClient, SpooledWorker
from spooled.errors import NotFoundError, ValidationError
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


def test_every_read_of_a_workflow_parses_with_the_values_a_user_reads(
    client: SpooledClient, queue_name: str
) -> None:
    """SDK parity: list, get, jobs.list/get/get_status and the dependency reads on a workflow that
    is part way through, driven by hand through the worker protocol."""
    created = client.workflows.create(
        {
            "name": "Invoice run (eu)",
            "description": "one fetch, two renders either of which may send",
            "metadata": {"region": "eu", "batch": 7},
            "jobs": [
                {
                    "key": "fetch",
                    "queue_name": queue_name,
                    "payload": {"step": "fetch"},
                    "priority": 5,
                    "max_retries": 1,
                    "timeout_seconds": 90,
                },
                {
                    "key": "pdf",
                    "queue_name": f"{queue_name}-r",
                    "payload": {"step": "pdf"},
                    "depends_on": ["fetch"],
                },
                {
                    "key": "html",
                    "queue_name": f"{queue_name}-r",
                    "payload": {"step": "html"},
                    "depends_on": ["fetch"],
                },
                {
                    "key": "send",
                    "queue_name": f"{queue_name}-s",
                    "payload": {"step": "send"},
                    "depends_on": ["pdf", "html"],
                    "dependency_mode": "any",
                },
            ],
        }
    )
    keys = {row.key: row.job_id for row in created.job_ids}
    wf = client.workflows.get(created.workflow_id)
    assert (wf.id, wf.name, wf.status, wf.description) == (
        created.workflow_id,
        "Invoice run (eu)",
        "pending",
        "one fetch, two renders either of which may send",
    )
    assert wf.metadata == {"region": "eu", "batch": 7}
    assert (wf.total_jobs, wf.completed_jobs, wf.failed_jobs, wf.progress_percent) == (4, 0, 0, 0.0)
    assert wf.created_at is not None and wf.started_at is None and wf.completed_at is None

    leased = client.jobs.claim({"queue_name": queue_name, "worker_id": "by-hand", "limit": 5}).jobs
    assert [job.id for job in leased] == [keys["fetch"]]
    client.jobs.complete(
        keys["fetch"], {"worker_id": "by-hand", "lease_id": leased[0].lease_id, "result": {"rows": 3}}
    )
    wait_for_status(client, keys["fetch"], "completed")
    wait_until(
        lambda: client.workflows.jobs.get_dependencies(keys["pdf"]).dependencies_met or None,
        "pdf to be released",
    )

    # The workflow's progress is the stream's to write, a moment after the release it also makes.
    running_wf = wait_until(
        lambda: wf if (wf := client.workflows.get(created.workflow_id)).completed_jobs == 1 else None,
        "the workflow to count the completed job",
    )
    assert running_wf.status == "running" and running_wf.started_at is not None
    assert (running_wf.completed_jobs, running_wf.progress_percent) == (1, 25.0)
    assert created.workflow_id in [row.id for row in client.workflows.list()]
    listed = {row.id: row for row in client.workflows.list({"status": "running", "limit": 100})}
    assert listed[created.workflow_id].name == "Invoice run (eu)"
    assert listed[created.workflow_id].total_jobs == 4

    fetch = client.workflows.jobs.get(created.workflow_id, keys["fetch"])
    assert (fetch.key, fetch.queue_name, fetch.status, fetch.result) == (
        "fetch",
        queue_name,
        "completed",
        {"rows": 3},
    )
    assert (fetch.priority, fetch.max_retries, fetch.timeout_seconds) == (5, 1, 90)
    assert fetch.payload == {"step": "fetch"} and fetch.workflow_id == created.workflow_id
    assert fetch.depends_on is None and fetch.completed_at is not None
    send = client.workflows.jobs.get(created.workflow_id, keys["send"])
    assert (send.status, send.dependency_mode) == ("pending", "any")
    assert sorted(send.depends_on or []) == sorted([keys["pdf"], keys["html"]])
    with pytest.raises(NotFoundError):
        client.workflows.jobs.get(created.workflow_id, keys["fetch"][::-1])
    assert {(s.key, s.job_id, s.status) for s in client.workflows.jobs.get_status(created.workflow_id)} == {
        ("fetch", keys["fetch"], "completed"),
        ("pdf", keys["pdf"], "pending"),
        ("html", keys["html"], "pending"),
        ("send", keys["send"], "pending"),
    }

    deps = client.workflows.jobs.get_dependencies(keys["send"])
    assert (deps.job_id, deps.dependency_mode, deps.dependencies_met) == (keys["send"], "any", False)
    assert {(d.job_id, d.status, d.queue_name, d.completed) for d in deps.dependencies} == {
        (keys["pdf"], "pending", f"{queue_name}-r", False),
        (keys["html"], "pending", f"{queue_name}-r", False),
    }
    upstream = client.workflows.jobs.get_dependencies(keys["fetch"])
    assert upstream.dependencies == [] and upstream.dependencies_met is True
    assert sorted(d.job_id for d in upstream.dependents) == sorted([keys["pdf"], keys["html"]])

    with pytest.raises(NotFoundError):
        client.workflows.get(created.workflow_id[::-1])
    cancelled = client.workflows.cancel(created.workflow_id)
    assert (cancelled.status, cancelled.total_jobs, cancelled.completed_jobs) == ("cancelled", 4, 1)
    assert cancelled.completed_at is not None
    assert client.jobs.get(keys["send"]).status == "cancelled"


def test_adding_dependencies_in_any_mode_releases_on_the_first_completed(
    client: SpooledClient, queue_name: str
) -> None:
    done = client.jobs.create({"queue_name": f"{queue_name}-a", "payload": {}}).id
    leased = client.jobs.claim({"queue_name": f"{queue_name}-a", "worker_id": "w"}).jobs
    client.jobs.complete(done, {"worker_id": "w", "lease_id": leased[0].lease_id})
    waiting = client.jobs.create({"queue_name": f"{queue_name}-b", "payload": {}}).id
    child = client.jobs.create({"queue_name": queue_name, "payload": {}}).id
    added = client.workflows.jobs.add_dependencies(
        child, {"dependency_job_ids": [waiting, done], "dependency_mode": "any"}
    )
    assert (added.added_count, added.dependencies_met, added.job_id) == (2, True, child)
    deps = client.workflows.jobs.get_dependencies(child)
    assert deps.dependency_mode == "any" and deps.dependencies_met is True
    assert {(d.job_id, d.completed) for d in deps.dependencies} == {(waiting, False), (done, True)}
    assert [job.id for job in client.jobs.claim({"queue_name": queue_name, "worker_id": "w"}).jobs] == [child]
    with pytest.raises(NotFoundError):
        client.workflows.jobs.add_dependencies(child[::-1], {"dependency_job_ids": [done]})
