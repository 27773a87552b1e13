"""Small helpers the functional tests share: paths, creating and claiming jobs, error checks."""

from __future__ import annotations

from typing import Any

V1 = "/api/v1"
JOBS = f"{V1}/jobs"


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error document (§1.4): JSON with at least code and message."""
    assert response.status == status, response
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json
    assert isinstance(body, dict), response
    assert isinstance(body.get("code"), str) and body["code"], response
    assert isinstance(body.get("message"), str) and body["message"], response
    if code is not None:
        assert body["code"] == code, response
    return body


def detail_codes(response: Any) -> set[str]:
    return {detail["code"] for detail in response.json.get("details", [])}


DEFAULT_PAYLOAD: Any = {"to": "a@example.com"}


def create_job(api: Any, queue: str = "emails", payload: Any = DEFAULT_PAYLOAD, **fields: Any) -> str:
    body = {"queue_name": queue, "payload": payload, **fields}
    response = api.post(JOBS, body)
    assert response.status == 201, response
    assert response.json["created"] is True
    return response.json["id"]


def claim(
    api: Any, queue: str = "emails", worker: str = "worker-1", limit: int = 1, lease: int = 30
) -> list[dict[str, Any]]:
    response = api.post(
        f"{JOBS}/claim",
        {"queue_name": queue, "worker_id": worker, "limit": limit, "lease_duration_secs": lease},
    )
    assert response.status == 200, response
    return response.json["jobs"]


def claim_one(api: Any, queue: str = "emails", worker: str = "worker-1", lease: int = 30) -> dict[str, Any]:
    jobs = claim(api, queue, worker, 1, lease)
    assert len(jobs) == 1, jobs
    return jobs[0]


def get_job(api: Any, job_id: str) -> dict[str, Any]:
    response = api.get(f"{JOBS}/{job_id}")
    assert response.status == 200, response
    return response.json


def dead_letter(api: Any, clock: Any, queue: str = "emails", **fields: Any) -> str:
    """A job that failed its only attempt and sits in the dead-letter queue."""
    job_id = create_job(api, queue, max_retries=0, **fields)
    clock.advance(0.001)
    leased = claim_one(api, queue)
    assert leased["id"] == job_id
    response = api.post(
        f"{JOBS}/{job_id}/fail", {"worker_id": "worker-1", "lease_id": leased["lease_id"], "error": "boom"}
    )
    assert response.status == 200, response
    return job_id
