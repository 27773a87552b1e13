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


# --- every route the router serves, generated from it -----------------------------------------------


@dataclass
class WideWorld:
    """Organization A with one of every kind of resource a route can name, each carrying MARKER."""

    base: World
    schedule: str
    webhook: str
    workflow: str

    def secrets(self) -> list[str]:
        return [*self.base.ids(), self.schedule, self.webhook, self.workflow]


# GET /metrics is the operator's view across organizations: the stack always sets its token
# (stacks/: a generated secret); only `make dev` leaves it open. Configured here as deployed, before
# A's world is made (configuring rebuilds the process's caches, the JWT secret's among them).
METRICS_TOKEN = "metrics-token-for-the-isolation-tests"


@pytest.fixture
def metrics_locked(configure: Any) -> None:
    configure(METRICS_TOKEN=METRICS_TOKEN)


@pytest.fixture
def wide_world(metrics_locked: None, world: World, tenant_api: ApiClient) -> WideWorld:
    api = tenant_api
    schedule = api.post(
        "/api/v1/schedules",
        {
            "name": f"s-{MARKER}",
            "cron_expression": "0 0 * * * *",
            "queue_name": "payroll",
            "payload_template": {"secret": MARKER},
        },
    )
    assert schedule.status == 201, schedule
    webhook = api.post(
        "/api/v1/outgoing-webhooks",
        {"name": f"h-{MARKER}", "url": "http://127.0.0.1:9/hook", "events": ["job.completed"]},
    )
    assert webhook.status == 201, webhook
    workflow = api.post(
        "/api/v1/workflows",
        {
            "name": f"w-{MARKER}",
            "jobs": [{"key": "one", "queue_name": "payroll", "payload": {"secret": MARKER}}],
        },
    )
    assert workflow.status in (200, 201), workflow
    return WideWorld(world, schedule.json["id"], webhook.json["id"], workflow.json["workflow_id"])


def _router_routes() -> list[Any]:
    from functions.api.handler import ROUTER

    return list(ROUTER.routes)


def _fill(template: str, a: WideWorld) -> str:
    """A's identifier for every path parameter, chosen by the resource the path names."""
    w = a.base
    by_resource = {
        "jobs": w.processing_job if template.endswith(("/complete", "/fail", "/heartbeat")) else w.job,
        "workers": w.worker,
        "api-keys": w.key_id,
        "organizations": w.org.id,
        "admin": w.org.id,
        "schedules": a.schedule,
        "outgoing-webhooks": a.webhook,
        "workflows": a.workflow,
        "webhooks": w.org.id,
    }
    parts = template.strip("/").split("/")
    resource = parts[2] if len(parts) > 2 else ""
    values = {
        "id": by_resource.get(resource, w.job),
        "name": "payroll",
        "org_id": w.org.id,
        "delivery_id": "d-1",
        "asset": "index.html",
    }
    return template.format(**values)


# A body that passes validation where the route takes one, so the route reaches its store (a 400
# would prove little); routes not named here get {}.
ROUTE_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/jobs/{id}/complete"): {"worker_id": "b-worker", "result": {}},
    ("POST", "/api/v1/jobs/{id}/fail"): {"worker_id": "b-worker", "error": "x"},
    ("POST", "/api/v1/jobs/{id}/heartbeat"): {"worker_id": "b-worker", "lease_duration_secs": 30},
    ("PUT", "/api/v1/jobs/{id}/priority"): {"priority": 3},
    ("POST", "/api/v1/jobs/{id}/dependencies"): {"depends_on": []},
    ("POST", "/api/v1/workers/{id}/heartbeat"): {"current_jobs": 3},
    ("PUT", "/api/v1/api-keys/{id}"): {"name": "stolen"},
    ("PUT", "/api/v1/organizations/{id}"): {"name": "Stolen"},
    ("PUT", "/api/v1/schedules/{id}"): {"name": "stolen"},
    ("PUT", "/api/v1/outgoing-webhooks/{id}"): {"name": "stolen"},
    ("PUT", "/api/v1/queues/{name}/config"): {"max_retries": 1},
    ("POST", "/api/v1/jobs/claim"): {"queue_name": "payroll", "worker_id": "b-worker", "limit": 10},
    ("POST", "/api/v1/jobs/dlq/retry"): {"job_ids": []},
    ("POST", "/api/v1/jobs/dlq/purge"): {"confirm": True, "queue_name": "payroll"},
    ("POST", "/api/v1/jobs/bulk"): {"queue_name": "payroll", "jobs": [{"payload": {}}]},
    ("POST", "/api/v1/webhooks/{org_id}/custom"): {"queue_name": "payroll", "payload": {}},
}
GET_PARAMS: dict[str, dict[str, str]] = {"/api/v1/jobs/status": {"ids": "{job},{proc}"}}


def _call_every_route(client: ApiClient, a: WideWorld, secrets: list[str]) -> dict[str, int]:
    """Every route once as `client`; returns status per route. Fails on any of A's data in an answer."""
    seen: dict[str, int] = {}
    # Deleting routes last: what the others try to reach must still exist when they run.
    for route in sorted(_router_routes(), key=lambda r: r.method == "DELETE"):
        path = _fill(route.template, a)
        params = {
            k: v.format(job=a.base.job, proc=a.base.processing_job)
            for k, v in GET_PARAMS.get(route.template, {}).items()
        }
        body = ROUTE_BODIES.get(
            (route.method, route.template), {} if route.method in ("POST", "PUT", "PATCH") else None
        )
        kwargs: dict[str, Any] = {"params": params or None}
        if body is not None:
            kwargs["json_body"] = body
        response = client.request(route.method, path, **kwargs)
        seen[f"{route.method} {route.template}"] = response.status
        assert response.status < 500, (route.method, path, response)
        leaked = [s for s in secrets if s in response.text]
        assert not leaked, (route.method, path, leaked, response)
    return seen


def test_every_route_keeps_organizations_apart(
    wide_world: WideWorld, other_api: ApiClient, tenant_api: ApiClient
) -> None:
    a = wide_world
    seen = _call_every_route(other_api, a, a.secrets())
    assert len(seen) == len(_router_routes())  # every route the router serves, none left out
    print(f"\nISOLATION routes={len(seen)} as=other-organization cross_tenant_reads=0")
    _a_is_untouched(ApiClient(a.base.org.api_key), a.base)
    _wide_world_is_untouched(tenant_api, a)


def test_every_route_keeps_a_queue_scoped_key_in_its_queue(
    wide_world: WideWorld, tenant_api: ApiClient
) -> None:
    a = wide_world
    scoped = ApiClient(create_key(tenant_api, name="emails only", queues=["emails"])["key"])
    # What belongs to A's payroll queue; the organization itself (its id, slug) is the key's own.
    payroll = [MARKER, a.base.job, a.base.processing_job]
    seen = _call_every_route(scoped, a, payroll)
    assert len(seen) == len(_router_routes())
    print(f"\nISOLATION routes={len(seen)} as=queue-scoped-key cross_queue_reads=0 {seen_workers(seen)}")
    # Issue 12 finding 3: the key can neither heartbeat nor deregister the payroll queue's worker.
    _a_is_untouched(ApiClient(a.base.org.api_key), a.base)


def seen_workers(seen: dict[str, int]) -> str:
    return " ".join(f"[{route}]={status}" for route, status in seen.items() if "/workers/{id}/" in route)


def _wide_world_is_untouched(api: ApiClient, a: WideWorld) -> None:
    schedule = api.get(f"/api/v1/schedules/{a.schedule}")
    assert schedule.status == 200 and schedule.json["name"] == f"s-{MARKER}", schedule
    hook = api.get(f"/api/v1/outgoing-webhooks/{a.webhook}")
    assert hook.status == 200 and hook.json["name"] == f"h-{MARKER}", hook
    flow = api.get(f"/api/v1/workflows/{a.workflow}")
    assert flow.status == 200 and flow.json["status"] != "cancelled", flow
