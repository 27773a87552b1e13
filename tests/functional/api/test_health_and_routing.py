"""Health probes, routing misses, request ids and authentication (contract §1.1, §1.2, §1.3, §2.1)."""

from __future__ import annotations

import uuid

import pytest

from tests.functional.jobs_api import JOBS, V1, assert_error, create_job


def test_health_reports_healthy_with_the_table_reachable(api):
    response = api.get("/health", api_key=None)
    assert response.status == 200
    body = response.json
    assert body["status"] == "healthy"
    assert body["database"] is True
    assert isinstance(body["uptime_seconds"], int)


def test_health_accepts_a_bearer_key_on_a_public_route(api):
    # The SDK sends its key on every call, health checks included (§1.3).
    assert api.get("/health").status == 200


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_probes_answer_200_with_an_empty_body(api, path):
    response = api.get(path, api_key=None)
    assert response.status == 200
    assert response.text == ""
    assert not response.headers["content-type"].startswith("application/json")


def test_ready_and_health_report_a_missing_table(api, monkeypatch):
    from shared.plumbing import config

    monkeypatch.setenv("SPOOLED_TABLE", "no-such-table")
    config.settings.cache_clear()
    assert api.get("/health/ready").status == 503
    health = api.get("/health")
    assert health.status == 200
    assert health.json["status"] == "degraded"
    config.settings.cache_clear()


@pytest.mark.parametrize("path", ["/nope", f"{V1}/nope", f"{V1}/jobs/x/y/z", "/", f"{V1}/jobs/abc/unknown"])
def test_unknown_route_is_404_with_the_contract_body(api, path):
    body = assert_error(api.get(path), 404, "NOT_FOUND")
    assert body["message"] == "No route matches this path"


def test_unknown_route_is_404_even_without_credentials(api):
    body = assert_error(api.get(f"{V1}/nothing-here", api_key=None), 404, "NOT_FOUND")
    assert body == {"code": "NOT_FOUND", "message": "No route matches this path"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", JOBS),
        ("DELETE", f"{JOBS}/claim"),
        ("GET", f"{JOBS}/claim"),
        ("PUT", f"{JOBS}/some-id"),
        ("GET", f"{JOBS}/some-id/complete"),
        ("POST", "/health"),
        ("GET", f"{V1}/workers/register"),
    ],
)
def test_wrong_method_is_405(api, method, path):
    assert_error(api.request(method, path), 405, "METHOD_NOT_ALLOWED")


def test_request_id_is_echoed_when_sent(api):
    sent = "req-" + uuid.uuid4().hex
    for response in (
        api.get("/health", headers={"X-Request-Id": sent}),
        api.get(f"{JOBS}/missing", headers={"X-Request-Id": sent}),
        api.get(JOBS, headers={"x-request-id": sent}),
    ):
        assert response.headers["x-request-id"] == sent


def test_request_id_is_generated_when_absent_and_differs_per_request(api):
    first = api.get("/health").headers["x-request-id"]
    second = api.get(f"{JOBS}/missing").headers["x-request-id"]
    assert first and second and first != second


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer sp_test_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "sp_test_no-scheme"},
    ],
)
def test_missing_or_bad_key_is_401(api, headers):
    response = api.get(JOBS, api_key=None, headers=headers)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["x-request-id"]


def test_query_string_credentials_are_not_accepted_on_rest(api, org):
    # §1.3: since 0.1.111 a key in the query string of a REST route is a 401.
    response = api.get(JOBS, api_key=None, params={"api_key": org.api_key, "token": org.api_key})
    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", JOBS),
        ("GET", f"{JOBS}/stats"),
        ("POST", f"{JOBS}/claim"),
        ("POST", f"{JOBS}/dlq/purge"),
        ("POST", f"{V1}/workers/register"),
        ("POST", f"{V1}/workers/w1/heartbeat"),
    ],
)
def test_protected_routes_refuse_an_unauthenticated_call_before_anything_else(api, method, path):
    # Even a body that would be a 422 gets 401 first: nothing about the route leaks.
    assert_error(api.request(method, path, body=b"not json", api_key=None), 401, "UNAUTHORIZED")


def test_a_job_of_one_key_is_readable_with_the_same_key_only(api, other_api):
    job_id = create_job(api)
    assert api.get(f"{JOBS}/{job_id}").status == 200
    assert api.get(f"{JOBS}/{job_id}", api_key="sp_test_wrong").status == 401
    assert other_api.get(f"{JOBS}/{job_id}").status == 404
