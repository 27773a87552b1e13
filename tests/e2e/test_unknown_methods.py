"""Methods no route has (TRACE, WebDAV's, made-up ones) get the contract's JSON error from the local
gateway, as a wrong method does, never http.server's 501 HTML page. Schemathesis's coverage phase
sends exactly these."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

UNKNOWN_METHODS = ("TRACE", "PROPFIND", "PURGE", "FROBNICATE")
KNOWN_PATHS = ("/health", "/api/v1/jobs", "/api/v1/jobs/some-id", "/api/v1/jobs/claim")


def _json_error(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()
    assert isinstance(body, dict) and body.get("code") and body.get("message"), body
    return body


@pytest.mark.parametrize("method", UNKNOWN_METHODS)
@pytest.mark.parametrize("path", KNOWN_PATHS)
def test_an_unknown_method_on_a_route_is_405_json(local_stack: RunningStack, method: str, path: str) -> None:
    headers = {"Authorization": f"Bearer {local_stack.api_key}"}
    response = httpx.request(method, local_stack.base_url + path, headers=headers, timeout=10)
    assert response.status_code == 405, response.text[:200]
    assert _json_error(response)["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers.get("x-request-id")


def test_an_unknown_method_keeps_the_connection_usable(local_stack: RunningStack) -> None:
    with httpx.Client(base_url=local_stack.base_url, timeout=10) as client:
        assert client.request("TRACE", "/health").status_code == 405
        assert client.get("/health").status_code == 200  # same kept-alive connection


def test_an_unknown_method_on_an_unknown_path_is_404_json(local_stack: RunningStack) -> None:
    response = httpx.request("TRACE", local_stack.base_url + "/api/v1/nothing-here", timeout=10)
    assert response.status_code == 404
    assert _json_error(response)["code"] == "NOT_FOUND"
