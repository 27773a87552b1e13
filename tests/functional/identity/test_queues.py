"""Queues (contract §2.5, §3.7): list, get, config, stats, pause, resume, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spooled.types.queues import (
    PauseQueueResponse,
    QueueConfig,
    QueueConfigSummary,
    QueueStats,
    ResumeQueueResponse,
)

from tests.conftest import ApiClient, Org
from tests.functional.identity.support import claim, create_key, enqueue, error_code


def test_a_paused_queue_hands_out_nothing_until_resumed(tenant_api: ApiClient, clock: Any) -> None:
    job_id = enqueue(tenant_api, "emails")
    paused = PauseQueueResponse.model_validate(
        tenant_api.post("/api/v1/queues/emails/pause", {"reason": "maintenance"}).json
    )
    assert paused.paused and paused.reason == "maintenance"
    assert claim(tenant_api, "emails") == []
    # Producers are not stopped: enqueue still works, and the jobs wait.
    second = enqueue(tenant_api, "emails")
    assert claim(tenant_api, "emails", limit=10) == []
    config = tenant_api.get("/api/v1/queues/emails").json
    assert config["enabled"] is False and config["settings"]["paused"] is True
    assert config["settings"]["paused_reason"] == "maintenance"

    clock.advance(90)
    resumed = ResumeQueueResponse.model_validate(tenant_api.post("/api/v1/queues/emails/resume").json)
    assert resumed.resumed and resumed.paused_duration_secs == 90
    assert {job["id"] for job in claim(tenant_api, "emails", limit=10)} == {job_id, second}
    assert "paused" not in tenant_api.get("/api/v1/queues/emails").json["settings"]


def test_pause_with_an_empty_body_and_twice(tenant_api: ApiClient, clock: Any) -> None:
    first = tenant_api.request("POST", "/api/v1/queues/sms/pause")
    assert first.status == 200 and first.json["reason"] is None
    clock.advance(10)
    again = tenant_api.post("/api/v1/queues/sms/pause", {})
    assert again.json["paused_at"] == first.json["paused_at"]  # the first pause's time is kept
    assert tenant_api.post("/api/v1/queues/sms/resume").json["paused_duration_secs"] == 10


def test_resume_needs_a_config_row(tenant_api: ApiClient) -> None:
    enqueue(tenant_api, "implicit")
    assert tenant_api.post("/api/v1/queues/implicit/resume").status == 404


def test_config_is_a_replace_and_its_defaults_apply_to_new_jobs(tenant_api: ApiClient) -> None:
    put = tenant_api.put(
        "/api/v1/queues/reports/config",
        {"max_retries": 7, "default_timeout": 120, "rate_limit": 500_000, "settings": {"owner": "ops"}},
    )
    assert put.status == 200, put
    config = QueueConfig.model_validate(put.json)
    assert (config.max_retries, config.default_timeout, config.rate_limit) == (7, 120, 100_000)
    assert config.settings == {"owner": "ops"} and config.enabled

    job = tenant_api.get(f"/api/v1/jobs/{enqueue(tenant_api, 'reports')}").json
    assert (job["max_retries"], job["timeout_seconds"]) == (7, 120)
    explicit = enqueue(tenant_api, "reports", max_retries=1, timeout_seconds=9)
    assert tenant_api.get(f"/api/v1/jobs/{explicit}").json["max_retries"] == 1
    bulk = tenant_api.post("/api/v1/jobs/bulk", {"queue_name": "reports", "jobs": [{"payload": {}}]}).json
    bulk_job = tenant_api.get(f"/api/v1/jobs/{bulk['succeeded'][0]['job_id']}").json
    assert (bulk_job["max_retries"], bulk_job["timeout_seconds"]) == (7, 120)

    # Omitted fields go back to their defaults; settings stay; the path's name wins.
    again = tenant_api.put(
        "/api/v1/queues/reports/config", {"queue_name": "elsewhere", "enabled": False}
    ).json
    assert (again["max_retries"], again["default_timeout"], again["rate_limit"]) == (3, 300, None)
    assert again["queue_name"] == "reports" and again["settings"]["owner"] == "ops"
    assert again["enabled"] is False and again["id"] == config.id
    assert claim(tenant_api, "reports") == []  # enabled=false is a pause


def test_config_validation(tenant_api: ApiClient) -> None:
    for body in ({"max_retries": 101}, {"default_timeout": 0}, {"rate_limit": 0}, {"settings": "x"}):
        assert tenant_api.put("/api/v1/queues/q1/config", body).status == 400, body
    assert tenant_api.put("/api/v1/queues/q1/config", {"max_retries": "3"}).status == 422
    for bad in ("-leading-dash", ".dot", "a" * 101, "sp%20ace"):
        assert tenant_api.get(f"/api/v1/queues/{bad}").status == 400, bad
        assert tenant_api.post(f"/api/v1/queues/{bad}/pause", {}).status == 400, bad


def test_list_and_get_include_implicit_queues(tenant_api: ApiClient, drain: Callable[[], int]) -> None:
    enqueue(tenant_api, "zeta")
    enqueue(tenant_api, "alpha")
    tenant_api.put("/api/v1/queues/mid/config", {"max_retries": 1})
    drain()
    rows = [QueueConfigSummary.model_validate(row) for row in tenant_api.get("/api/v1/queues").json]
    assert [row.queue_name for row in rows] == ["alpha", "mid", "zeta"]
    implicit = QueueConfig.model_validate(tenant_api.get("/api/v1/queues/alpha").json)
    assert (implicit.max_retries, implicit.default_timeout, implicit.enabled) == (3, 300, True)
    assert implicit.id == tenant_api.get("/api/v1/queues/alpha").json["id"]  # stable
    assert tenant_api.get("/api/v1/queues/never-used").status == 404


def test_stats(tenant_api: ApiClient, clock: Any, drain: Callable[[], int]) -> None:
    tenant_api.post(
        "/api/v1/workers/register", {"queue_name": "work", "hostname": "h", "worker_id": "stats-w"}
    )
    for _ in range(3):
        enqueue(tenant_api, "work", max_retries=0)
    first, second = claim(tenant_api, "work", worker="stats-w", limit=2)
    clock.advance(2)
    body = {"worker_id": "stats-w", "lease_id": first["lease_id"], "result": {"ok": True}}
    assert tenant_api.post(f"/api/v1/jobs/{first['id']}/complete", body).status == 200
    fail = {"worker_id": "stats-w", "lease_id": second["lease_id"], "error": "boom"}
    assert tenant_api.post(f"/api/v1/jobs/{second['id']}/fail", fail).status == 200
    drain()
    stats = QueueStats.model_validate(tenant_api.get("/api/v1/queues/work/stats").json)
    assert (stats.pending_jobs, stats.processing_jobs) == (1, 0)
    assert (stats.completed_jobs_24h, stats.failed_jobs_24h) == (1, 1)
    assert stats.avg_processing_time_ms == 2000.0
    assert stats.active_workers == 1
    unknown = tenant_api.get("/api/v1/queues/nothing-here/stats")
    assert unknown.status == 200 and unknown.json["pending_jobs"] == 0


def test_delete(tenant_api: ApiClient, drain: Callable[[], int]) -> None:
    assert tenant_api.delete("/api/v1/queues/nothing").status == 404
    tenant_api.put("/api/v1/queues/old/config", {"max_retries": 2})
    kept = enqueue(tenant_api, "old", idempotency_key="keep-me")
    drain()
    refused = tenant_api.delete("/api/v1/queues/old")
    assert refused.status == 409 and error_code(refused) == "CONFLICT"
    assert tenant_api.delete("/api/v1/queues/old", params={"delete_jobs": "true"}).status == 204
    assert tenant_api.get(f"/api/v1/jobs/{kept}").status == 404
    drain()
    # The config row went; the queue's counters (now zero) still make it an implicit queue.
    implicit = tenant_api.get("/api/v1/queues/old")
    assert implicit.status == 200 and implicit.json["max_retries"] == 3
    assert tenant_api.get("/api/v1/queues/old/stats").json["pending_jobs"] == 0
    # The idempotency key went with its job: the same key makes a new job.
    again = tenant_api.post(
        "/api/v1/jobs", {"queue_name": "old", "payload": {}, "idempotency_key": "keep-me"}
    )
    assert again.status == 201 and again.json["id"] != kept
    drain()
    assert tenant_api.get("/api/v1/queues/old/stats").json["pending_jobs"] == 1


def test_delete_without_jobs_removes_only_the_config(tenant_api: ApiClient, drain: Callable[[], int]) -> None:
    tenant_api.put("/api/v1/queues/cfg-only/config", {"max_retries": 9})
    assert tenant_api.delete("/api/v1/queues/cfg-only").status == 204
    assert tenant_api.get("/api/v1/queues/cfg-only").status == 404


def test_queue_scope(tenant_api: ApiClient, tenant: Org, drain: Callable[[], int]) -> None:
    enqueue(tenant_api, "billing")
    enqueue(tenant_api, "emails")
    drain()
    scoped = ApiClient(create_key(tenant_api, queues=["emails"])["key"])
    assert [row["queue_name"] for row in scoped.get("/api/v1/queues").json] == ["emails"]
    assert scoped.get("/api/v1/queues/emails").status == 200
    for path in ("/api/v1/queues/billing", "/api/v1/queues/billing/stats"):
        assert scoped.get(path).status == 404, path
    for method, path, body in [
        ("PUT", "/api/v1/queues/billing/config", {"max_retries": 1}),
        ("POST", "/api/v1/queues/billing/pause", {}),
        ("POST", "/api/v1/queues/billing/resume", None),
        ("DELETE", "/api/v1/queues/billing", None),
    ]:
        assert scoped.request(method, path, json_body=body).status == 403, path
    assert tenant_api.get("/api/v1/queues/billing").json["enabled"] is True
