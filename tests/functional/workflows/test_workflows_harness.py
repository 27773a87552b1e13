"""Helpers the workflow and dependency tests share (no tests here): creating workflows, running
jobs through the worker protocol, and delivering the table's stream the way the event source
mapping does, with the batches kept so a test can deliver them again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import ADMIN_KEY, ApiClient
from tests.functional.jobs_api import JOBS, V1, claim, get_job

WORKFLOWS = f"{V1}/workflows"


def job_spec(
    key: str, queue: str | None = None, depends_on: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """A workflow job; each key has a queue of its own unless told, so that claiming one job never
    takes another."""
    spec: dict[str, Any] = {"key": key, "queue_name": queue or f"q-{key}", "payload": {"step": key}, **fields}
    if depends_on is not None:
        spec["depends_on"] = depends_on
    return spec


def create_workflow(
    api: Any, jobs: list[dict[str, Any]], name: str = "nightly etl", **fields: Any
) -> dict[str, str]:
    """Create a workflow; returns key → job id (and "_id" → the workflow id)."""
    response = api.post(WORKFLOWS, {"name": name, "jobs": jobs, **fields})
    assert response.status == 200, response
    body = response.json
    assert body["status"] == "pending"
    assert [row["key"] for row in body["job_ids"]] == [job["key"] for job in jobs]
    return {"_id": body["workflow_id"], **{row["key"]: row["job_id"] for row in body["job_ids"]}}


def workflow(api: Any, workflow_id: str) -> dict[str, Any]:
    response = api.get(f"{WORKFLOWS}/{workflow_id}")
    assert response.status == 200, response
    return response.json


def status(api: Any, job_id: str) -> str:
    return str(get_job(api, job_id)["status"])


def run(api: Any, job_id: str, result: Any = None, error: str | None = None) -> None:
    """Claim job_id from its queue (it must be the one claimable job there), then complete it, or
    fail it with `error`."""
    queue = get_job(api, job_id)["queue_name"]
    leased = claim(api, queue, limit=1)
    assert [job["id"] for job in leased] == [job_id], f"{job_id} is not claimable ({get_job(api, job_id)})"
    finish(api, leased[0], result=result, error=error)


def finish(api: Any, leased: dict[str, Any], result: Any = None, error: str | None = None) -> None:
    body: dict[str, Any] = {"worker_id": "worker-1", "lease_id": leased["lease_id"]}
    if error is None:
        response = api.post(f"{JOBS}/{leased['id']}/complete", {**body, "result": result})
    else:
        response = api.post(f"{JOBS}/{leased['id']}/fail", {**body, "error": error})
    assert response.status == 200, response


class Stream:
    """The table's stream, delivered to the dispatcher's stream handler on demand."""

    def __init__(self) -> None:
        from functions.dispatcher.handler import handle_stream
        from local_stack.stream_poller import StreamPoller
        from shared.plumbing.config import settings

        self.batches: list[list[dict[str, Any]]] = []
        self._handle: Callable[[list[dict[str, Any]]], None] = handle_stream

        def deliver(records: list[dict[str, Any]]) -> None:
            self.batches.append(records)
            handle_stream(records)

        self._poller = StreamPoller(settings().table_name, deliver)

    def drain(self) -> int:
        """Deliver until nothing new arrives (a cascade takes one round per level)."""
        total = 0
        while delivered := self._poller.poll_once():
            total += delivered
        return total

    def replay(self) -> None:
        """Deliver every batch seen so far again, as Lambda does after a failed invocation."""
        for records in list(self.batches):
            self._handle(records)


def scoped_api(api: ApiClient, queues: list[str]) -> ApiClient:
    response = api.post(f"{V1}/api-keys", {"name": "scoped", "queues": queues})
    assert response.status == 201, response
    return ApiClient(response.json["key"])


def set_custom_limits(org_id: str, limits: dict[str, Any]) -> None:
    admin = ApiClient(None, default_headers={"Content-Type": "application/json", "X-Admin-Key": ADMIN_KEY})
    response = admin.request(
        "PATCH", f"{V1}/admin/organizations/{org_id}", json_body={"custom_limits": limits}
    )
    assert response.status == 200, response
