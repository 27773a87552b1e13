"""Strict tenant isolation, table-driven: organization B's key against every organization-A
resource gets 403 or 404 and never A's data; a queue-scoped key cannot reach other queues."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ApiClient, Org
from tests.functional.identity.support import claim, create_key, enqueue

MARKER = "A-ONLY-SECRET-7d1f"


@dataclass
class World:
    """Organization A's resources."""

    org: Org
    job: str
    processing_job: str
    lease_id: str
    worker: str
    key_id: str
    refresh_token: str

    def ids(self) -> list[str]:
        return [self.org.id, self.org.slug, self.job, self.processing_job, self.key_id, MARKER]


@pytest.fixture
def world(tenant_api: ApiClient, tenant: Org, drain: Callable[[], int]) -> World:
    api = tenant_api
    worker = f"a-worker-{tenant.slug}"
    api.post("/api/v1/workers/register", {"queue_name": "payroll", "hostname": "a-host", "worker_id": worker})
    api.put("/api/v1/queues/payroll/config", {"max_retries": 7, "settings": {"note": MARKER}})
    processing = enqueue(api, "payroll", {"secret": MARKER}, priority=90)
    (leased,) = claim(api, "payroll", worker=worker)
    assert leased["id"] == processing
    job = enqueue(api, "payroll", {"secret": MARKER})
    key = create_key(api, name="A key")
    tokens = api.post("/api/v1/auth/login", {"api_key": tenant.api_key}).json
    drain()
    return World(tenant, job, processing, leased["lease_id"], worker, key["id"], tokens["refresh_token"])


def _cases(a: World) -> list[tuple[str, str, Any, set[int]]]:
    job, proc, worker = a.job, a.processing_job, a.worker
    lease = {"worker_id": worker, "lease_id": a.lease_id}
    return [
        # jobs
        ("GET", f"/api/v1/jobs/{job}", None, {404}),
        ("DELETE", f"/api/v1/jobs/{job}", None, {404}),
        ("POST", f"/api/v1/jobs/{job}/retry", None, {404}),
        ("PUT", f"/api/v1/jobs/{job}/priority", {"priority": 5}, {404}),
        ("GET", f"/api/v1/jobs/{job}/history", None, {404}),
        ("POST", f"/api/v1/jobs/{proc}/complete", {**lease, "result": {}}, {404}),
        ("POST", f"/api/v1/jobs/{proc}/fail", {**lease, "error": "x"}, {404}),
        ("POST", f"/api/v1/jobs/{proc}/heartbeat", lease, {404}),
        ("POST", "/api/v1/jobs", {"queue_name": "payroll", "payload": {}, "parent_job_id": job}, {400}),
        # queues (A's queue name means nothing in B's namespace)
        ("GET", "/api/v1/queues/payroll", None, {404}),
        ("POST", "/api/v1/queues/payroll/resume", None, {404}),
        ("DELETE", "/api/v1/queues/payroll", None, {404}),
        ("DELETE", "/api/v1/queues/payroll?delete_jobs=true", None, {404}),
        # workers
        ("GET", f"/api/v1/workers/{worker}", None, {404}),
        ("POST", f"/api/v1/workers/{worker}/heartbeat", {"current_jobs": 3}, {404}),
        ("POST", f"/api/v1/workers/{worker}/deregister", None, {404}),
        # API keys
        ("GET", f"/api/v1/api-keys/{a.key_id}", None, {404}),
        ("PUT", f"/api/v1/api-keys/{a.key_id}", {"name": "stolen"}, {404}),
        ("DELETE", f"/api/v1/api-keys/{a.key_id}", None, {404}),
        # the organization
        ("GET", f"/api/v1/organizations/{a.org.id}", None, {404}),
        ("PUT", f"/api/v1/organizations/{a.org.id}", {"name": "Stolen Org"}, {404}),
        ("DELETE", f"/api/v1/organizations/{a.org.id}", None, {404}),
        ("GET", f"/api/v1/organizations/{a.org.id}/members", None, {404}),
    ]


B_LISTS = [
    "/api/v1/jobs",
    "/api/v1/jobs?queue_name=payroll",
    "/api/v1/jobs/dlq",
    "/api/v1/jobs/stats",
    "/api/v1/queues",
    "/api/v1/queues/payroll/stats",
    "/api/v1/workers",
    "/api/v1/api-keys",
    "/api/v1/organizations",
    "/api/v1/organizations/usage",
    "/api/v1/organizations/webhook-token",
    "/api/v1/dashboard",
]


def test_another_organization_reaches_nothing_of_a(
    world: World, other_api: ApiClient, other_tenant: Org
) -> None:
    a = world
    for method, path, body, statuses in _cases(a):
        path, _, query = path.partition("?")
        params = dict([query.split("=")]) if query else None
        response = other_api.request(method, path, json_body=body, params=params)
        assert response.status in statuses, (method, path, response)
        assert not any(secret in response.text for secret in a.ids()), (method, path, response)

    batch = other_api.get("/api/v1/jobs/status", params={"ids": f"{a.job},{a.processing_job}"})
    assert batch.status == 200 and batch.json == []
    dlq = other_api.post("/api/v1/jobs/dlq/retry", {"job_ids": [a.job]})
    assert dlq.status == 200 and dlq.json["retried_count"] == 0
    for path in [*B_LISTS, f"/api/v1/organizations/{other_tenant.id}/members"]:
        response = other_api.get(path)
        assert response.status == 200, (path, response)
        assert not any(secret in response.text for secret in a.ids()), (path, response)
    # B's own queue of the same name is B's: pausing it does not pause A's.
    assert other_api.post("/api/v1/queues/payroll/pause", {}).status == 200
    assert other_api.put("/api/v1/queues/payroll/config", {"max_retries": 1}).status == 200
    # B registering A's worker id gets a worker of its own: ids are per organization (issue 12,
    # finding 3), and A's worker is untouched (below).
    mine = {"queue_name": "x", "hostname": "h", "worker_id": a.worker}
    assert other_api.post("/api/v1/workers/register", mine).status == 201
    # B cannot log A's session out by sending A's refresh token.
    assert other_api.post("/api/v1/auth/logout", {"refresh_token": a.refresh_token}).status == 204

    _a_is_untouched(ApiClient(a.org.api_key), a)


def _a_is_untouched(api: ApiClient, a: World) -> None:
    job = api.get(f"/api/v1/jobs/{a.job}").json
    assert (job["status"], job["priority"], job["payload"]) == ("pending", 0, {"secret": MARKER})
    leased = api.get(f"/api/v1/jobs/{a.processing_job}").json
    assert (leased["status"], leased["lease_id"]) == ("processing", a.lease_id)
    worker = api.get(f"/api/v1/workers/{a.worker}").json
    assert (worker["status"], worker["current_jobs"]) == ("healthy", 0)
    key = api.get(f"/api/v1/api-keys/{a.key_id}").json
    assert (key["name"], key["is_active"]) == ("A key", True)
    assert api.get(f"/api/v1/organizations/{a.org.id}").json["name"].startswith("Acme")
    queue = api.get("/api/v1/queues/payroll").json
    assert (queue["max_retries"], queue["enabled"]) == (7, True)
    assert api.post("/api/v1/auth/refresh", {"refresh_token": a.refresh_token}).status == 200


SCOPED_CASES: list[tuple[str, str, Any, int]] = [
    # writes outside the scope: 403
    ("POST", "/api/v1/jobs", {"queue_name": "billing", "payload": {}}, 403),
    ("POST", "/api/v1/jobs/bulk", {"queue_name": "billing", "jobs": [{"payload": {}}]}, 403),
    ("POST", "/api/v1/jobs/claim", {"queue_name": "billing", "worker_id": "w"}, 403),
    ("POST", "/api/v1/workers/register", {"queue_name": "billing", "hostname": "h"}, 403),
    ("PUT", "/api/v1/queues/billing/config", {"max_retries": 1}, 403),
    ("POST", "/api/v1/queues/billing/pause", {}, 403),
    ("POST", "/api/v1/queues/billing/resume", None, 403),
    ("DELETE", "/api/v1/queues/billing", None, 403),
    ("POST", "/api/v1/jobs/dlq/retry", {}, 403),
    ("POST", "/api/v1/jobs/dlq/purge", {"confirm": True}, 403),
    ("POST", "/api/v1/jobs/dlq/purge", {"confirm": True, "queue_name": "billing"}, 403),
    # reads outside the scope: as if they did not exist
    ("GET", "/api/v1/jobs/{job}", None, 404),
    ("DELETE", "/api/v1/jobs/{job}", None, 404),
    ("POST", "/api/v1/jobs/{job}/retry", None, 404),
    ("PUT", "/api/v1/jobs/{job}/priority", {"priority": 1}, 404),
    ("GET", "/api/v1/jobs/{job}/history", None, 404),
    ("GET", "/api/v1/workers/{worker}", None, 404),
    ("GET", "/api/v1/queues/billing", None, 404),
    ("GET", "/api/v1/queues/billing/stats", None, 404),
    ("GET", "/api/v1/jobs/stats?queue_name=billing", None, 404),
    # what only an unrestricted key may manage
    ("GET", "/api/v1/api-keys", None, 403),
    ("GET", "/api/v1/organizations/usage", None, 403),
    ("GET", "/api/v1/organizations/webhook-token", None, 403),
]


def test_a_queue_scoped_key_reaches_no_other_queue(tenant_api: ApiClient, drain: Callable[[], int]) -> None:
    billing_job = enqueue(tenant_api, "billing", {"secret": MARKER})
    tenant_api.post(
        "/api/v1/workers/register", {"queue_name": "billing", "hostname": "h", "worker_id": "bill-w"}
    )
    emails_job = enqueue(tenant_api, "emails")
    drain()
    scoped = ApiClient(create_key(tenant_api, queues=["emails"])["key"])
    for method, template, body, status in SCOPED_CASES:
        path, _, query = template.format(job=billing_job, worker="bill-w").partition("?")
        params = dict([query.split("=")]) if query else None
        response = scoped.request(method, path, json_body=body, params=params)
        assert response.status == status, (method, path, response)
        assert MARKER not in response.text and billing_job not in response.text, (method, path)

    assert scoped.get("/api/v1/jobs", params={"queue_name": "billing"}).json == []
    assert [job["id"] for job in scoped.get("/api/v1/jobs").json] == [emails_job]
    assert [w["id"] for w in scoped.get("/api/v1/workers").json] == []
    assert scoped.get("/api/v1/jobs/status", params={"ids": billing_job}).json == []
    # Inside its scope, everything works.
    assert scoped.post("/api/v1/jobs", {"queue_name": "emails", "payload": {}}).status == 201
    assert scoped.post("/api/v1/queues/emails/pause", {}).status == 200
    assert tenant_api.get(f"/api/v1/jobs/{billing_job}").json["status"] == "pending"
