"""Helpers of the account tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN_KEY, ApiClient, ApiResponse

ADMIN_HEADERS = {"X-Admin-Key": ADMIN_KEY}


def create_key(api: ApiClient, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v1/api-keys", {"name": "test key", **body})
    assert response.status == 201, response
    return dict(response.json)


def enqueue(api: ApiClient, queue: str, payload: Any = None, **fields: Any) -> str:
    response = api.post("/api/v1/jobs", {"queue_name": queue, "payload": payload or {"n": 1}, **fields})
    assert response.status == 201, response
    return str(response.json["id"])


def claim(api: ApiClient, queue: str, worker: str = "worker-1", limit: int = 1) -> list[dict[str, Any]]:
    response = api.post("/api/v1/jobs/claim", {"queue_name": queue, "worker_id": worker, "limit": limit})
    assert response.status == 200, response
    return list(response.json["jobs"])


def error_code(response: ApiResponse) -> str:
    return str((response.json or {}).get("code"))
