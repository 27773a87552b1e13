"""Operations: the dashboard (contract §2.2), /metrics (§2.1) and the worker list (§2.6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spooled.types.dashboard import DashboardData
from spooled.types.workers import Worker, WorkerSummary

from shared.jobs.states import ALL_STATUSES
from tests.conftest import ApiClient, Org
from tests.functional.identity.support import ADMIN_HEADERS, claim, create_key, enqueue


def _lifecycle(api: ApiClient, clock: Any, queue: str, worker: str) -> None:
    """One job completed (after 3 s), one dead-lettered, one processing, one pending."""
    api.post("/api/v1/workers/register", {"queue_name": queue, "hostname": "host-1", "worker_id": worker})
    for _ in range(4):
        enqueue(api, queue, max_retries=0)
    done, dead, _ = claim(api, queue, worker=worker, limit=3)
    clock.advance(3)
    api.post(f"/api/v1/jobs/{done['id']}/complete", {"worker_id": worker, "lease_id": done["lease_id"]})
    api.post(
        f"/api/v1/jobs/{dead['id']}/fail", {"worker_id": worker, "lease_id": dead["lease_id"], "error": "x"}
    )


def test_dashboard_from_counters(tenant_api: ApiClient, clock: Any, drain: Callable[[], int]) -> None:
    _lifecycle(tenant_api, clock, "dash", "dash-worker")
    tenant_api.post("/api/v1/queues/paused-q/pause", {})
    drain()
    data = DashboardData.model_validate(tenant_api.get("/api/v1/dashboard").json)
    jobs = data.jobs
    assert (jobs.total, jobs.pending, jobs.processing, jobs.deadletter) == (4, 1, 1, 1)
    assert (jobs.completed_24h, jobs.failed_24h) == (1, 1)
    assert jobs.avg_processing_time_ms == 3000.0 and jobs.avg_wait_time_ms is not None
    assert {(q.name, q.pending, q.processing, q.paused) for q in data.queues} == {
        ("dash", 1, 1, False),
        ("paused-q", 0, 0, True),
    }
    assert (data.workers.total, data.workers.healthy, data.workers.unhealthy) == (1, 1, 0)
    recent = data.recent_activity
    assert (recent.jobs_created_1h, recent.jobs_completed_1h, recent.jobs_failed_1h) == (4, 1, 1)
    assert data.system.database_status == "healthy" and data.system.environment == "development"


def test_dashboard_is_limited_to_the_key_scope(tenant_api: ApiClient, drain: Callable[[], int]) -> None:
    enqueue(tenant_api, "seen")
    enqueue(tenant_api, "hidden")
    enqueue(tenant_api, "hidden")
    drain()
    scoped = ApiClient(create_key(tenant_api, queues=["seen"])["key"])
    data = scoped.get("/api/v1/dashboard").json
    assert [q["name"] for q in data["queues"]] == ["seen"]
    assert data["jobs"]["total"] == 1 and data["recent_activity"]["jobs_created_1h"] == 1
    assert "hidden" not in repr(data)


def test_dashboard_of_a_new_organization_is_all_zero(tenant_api: ApiClient) -> None:
    data = DashboardData.model_validate(tenant_api.get("/api/v1/dashboard").json)
    assert data.jobs.total == 0 and data.queues == [] and data.workers.total == 0


def test_metrics(tenant_api: ApiClient, tenant: Org, clock: Any, drain: Callable[[], int]) -> None:
    _lifecycle(tenant_api, clock, "metered", "metrics-worker")
    drain()
    response = ApiClient(None).get("/metrics")
    assert response.status == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = set(response.text.splitlines())
    labels = f'organization_id="{tenant.id}",queue="metered"'
    for expected in [
        f'spooled_jobs{{{labels},status="pending"}} 1',
        f'spooled_jobs{{{labels},status="processing"}} 1',
        f'spooled_jobs{{{labels},status="completed"}} 1',
        f'spooled_jobs{{{labels},status="deadletter"}} 1',
        f"spooled_jobs_created_total{{{labels}}} 4",
        f"spooled_job_claims_total{{{labels}}} 3",
        f"spooled_job_failures_total{{{labels}}} 1",
        f"spooled_jobs_completed_total{{{labels}}} 1",
    ]:
        assert expected in lines, expected
    # One series per queue: the registry entry that lists the queue is not a second row of zeros.
    pending = [line for line in response.text.splitlines() if line.startswith(f"spooled_jobs{{{labels},")]
    assert len(pending) == len(set(pending)) == len(ALL_STATUSES)


def test_metrics_token(tenant_api: ApiClient, configure: Callable[..., None]) -> None:
    configure(METRICS_TOKEN="metrics-secret-123")
    assert ApiClient(None).get("/metrics").status == 401
    assert ApiClient("wrong").get("/metrics").status == 401
    assert ApiClient("metrics-secret-123").get("/metrics").status == 200


def test_workers_list_and_get(tenant_api: ApiClient, clock: Any, drain: Callable[[], int]) -> None:
    _lifecycle(tenant_api, clock, "wq", "w-busy")
    clock.advance(60)
    tenant_api.post(
        "/api/v1/workers/register", {"queue_name": "other", "hostname": "h2", "worker_id": "w-idle"}
    )
    tenant_api.post("/api/v1/workers/w-idle/heartbeat", {"current_jobs": 0, "status": "degraded"})
    drain()
    rows = [WorkerSummary.model_validate(row) for row in tenant_api.get("/api/v1/workers").json]
    assert [w.id for w in rows] == ["w-idle", "w-busy"]  # most recent heartbeat first
    assert rows[0].status == "degraded"
    busy = Worker.model_validate(tenant_api.get("/api/v1/workers/w-busy").json)
    assert (busy.jobs_processed, busy.jobs_failed) == (1, 1)
    assert busy.hostname == "host-1" and busy.status == "healthy"

    # No heartbeat for more than two minutes: shown offline, before any sweep has run.
    clock.advance(121)
    tenant_api.post("/api/v1/workers/w-idle/heartbeat", {"current_jobs": 1})
    statuses = {row["id"]: row["status"] for row in tenant_api.get("/api/v1/workers").json}
    assert statuses == {"w-idle": "healthy", "w-busy": "offline"}
    assert tenant_api.get("/api/v1/dashboard").json["workers"] == {"total": 1, "healthy": 1, "unhealthy": 0}

    scoped = ApiClient(create_key(tenant_api, queues=["other"])["key"])
    assert [row["id"] for row in scoped.get("/api/v1/workers").json] == ["w-idle"]
    assert scoped.get("/api/v1/workers/w-busy").status == 404
    assert tenant_api.get("/api/v1/workers/no-such-worker").status == 404


def test_absurd_ids_are_404_never_5xx(tenant_api: ApiClient, tenant: Org) -> None:
    absurd = "x" * 3000  # longer than any DynamoDB key may be
    for method, path in [
        ("GET", f"/api/v1/api-keys/{absurd}"),
        ("PUT", f"/api/v1/api-keys/{absurd}"),
        ("DELETE", f"/api/v1/api-keys/{absurd}"),
        ("GET", f"/api/v1/workers/{absurd}"),
        ("GET", f"/api/v1/organizations/{absurd}"),
        ("GET", f"/api/v1/organizations/{absurd}/members"),
        ("GET", f"/api/v1/admin/organizations/{absurd}"),
    ]:
        body = {"name": "x"} if method == "PUT" else None
        response = tenant_api.request(method, path, json_body=body, headers=ADMIN_HEADERS)
        assert response.status == 404, (method, path[:40], response)
