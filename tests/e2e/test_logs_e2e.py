"""The local stack's output (the same handler code and Powertools Logger as on AWS): JSON lines with
the request's correlation id and org/job keys, and not one key, token, secret or payload of the
requests that produced them. (tests/e2e/conftest.py checks the whole run's output the same way.)"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack, secrets_in

pytestmark = pytest.mark.e2e


def _lines(stack: RunningStack) -> list[dict[str, Any]]:
    found = []
    for line in stack.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"level"' in line:
            found.append(json.loads(line))
    return found


def _wait_for_line(stack: RunningStack, correlation: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        lines = [line for line in _lines(stack) if line.get("correlation_id") == correlation]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_logs_carry_correlation_ids_and_no_secret(local_stack: RunningStack, queue_name: str) -> None:
    marker = f"payload-marker-{uuid.uuid4().hex}"
    webhook_secret = f"whsec-e2e-{uuid.uuid4().hex}"
    wrong_key = f"sp_test_{uuid.uuid4().hex}{uuid.uuid4().hex[:10]}"
    request_id = f"e2e-logs-{uuid.uuid4().hex[:12]}"
    used = [local_stack.api_key, local_stack.admin_key, marker, webhook_secret, wrong_key]
    bearer = {"Authorization": f"Bearer {local_stack.api_key}"}
    with httpx.Client(base_url=local_stack.base_url, headers=bearer, timeout=10) as http:
        created = http.post(
            "/api/v1/jobs",
            json={"queue_name": queue_name, "payload": {"card": marker}},
            headers={"X-Request-Id": request_id},
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"] == request_id
        job_id = created.json()["id"]
        assert http.get(f"/api/v1/jobs/{job_id}").status_code == 200

        key = http.post("/api/v1/api-keys", json={"name": "logs e2e"}).json()["key"]
        tokens = http.post("/api/v1/auth/login", json={"api_key": key}).json()
        used += [key, tokens["access_token"], tokens["refresh_token"]]
        me = http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200, me.text
        refreshed = http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        used.append(refreshed.json()["access_token"])

        hook = http.post(
            "/api/v1/outgoing-webhooks",
            json={
                "name": "logs e2e",
                "url": f"{local_stack.base_url}/hook-sink",
                "events": ["job.completed"],
                "secret": webhook_secret,
            },
        )
        assert hook.status_code in (200, 201), hook.text
        admin = http.get("/api/v1/admin/organizations", headers={"X-Admin-Key": local_stack.admin_key})
        assert admin.status_code == 200, admin.text
        refused = http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {wrong_key}"})
        assert refused.status_code == 401
        # No caller id: API Gateway's (here the local gateway's) request id is echoed instead.
        assert http.get("/api/v1/jobs").headers["x-request-id"]

    lines = _wait_for_line(local_stack, request_id)
    assert lines, "no log line carries the caller's X-Request-Id"
    (request_line,) = [line for line in lines if "answered" in line["message"]]
    assert request_line["level"] == "INFO"
    assert request_line["message"] == "POST /api/v1/jobs answered 201"
    assert request_line["org_id"]
    jobs_get = [
        line
        for line in _lines(local_stack)
        if line.get("job_id") == job_id and line["message"] == "GET /api/v1/jobs/{id} answered 200"
    ]
    assert jobs_get, "the job id of GET /jobs/{id} is a log key"

    leaked = secrets_in(local_stack.log_path.read_text(errors="replace"), used)
    assert not leaked, f"found in the local stack's output: {leaked}"
