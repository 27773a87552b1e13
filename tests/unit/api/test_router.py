"""Routing: literal paths win over parameters; unknown paths 404, wrong methods 405."""

from __future__ import annotations

import pytest

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route, Router
from shared.plumbing.errors import MethodNotAllowed, RouteNotFound


def _named(name: str):
    def handler(request: ApiRequest, ctx: object) -> ApiResponse:
        return ApiResponse(200, {"route": name, "params": request.path_params})

    return handler


ROUTER = Router(
    [
        Route("GET", "/api/v1/jobs/{id}", _named("get")),
        Route("POST", "/api/v1/jobs/claim", _named("claim")),
        Route("POST", "/api/v1/jobs/{id}/complete", _named("complete")),
        Route("GET", "/api/v1/jobs", _named("list")),
        Route("GET", "/health", _named("health")),
    ]
)


def _request(method: str, path: str) -> ApiRequest:
    return ApiRequest(method=method, path=path, headers={}, query={}, body=b"", request_id="r")


@pytest.mark.parametrize(
    ("method", "path", "route", "params"),
    [
        ("POST", "/api/v1/jobs/claim", "claim", {}),
        ("GET", "/api/v1/jobs/abc", "get", {"id": "abc"}),
        ("POST", "/api/v1/jobs/abc/complete", "complete", {"id": "abc"}),
        ("GET", "/api/v1/jobs", "list", {}),
        ("GET", "/api/v1/jobs/", "list", {}),  # a trailing slash is the same resource
        ("HEAD", "/health", "health", {}),
    ],
)
def test_resolves(method: str, path: str, route: str, params: dict[str, str]) -> None:
    request = _request(method, path)
    response = ROUTER.resolve(request).handler(request, None)
    assert response.body == {"route": route, "params": params}


@pytest.mark.parametrize(
    ("method", "path", "error"),
    [
        ("GET", "/api/v1/nothing", RouteNotFound),
        ("GET", "/", RouteNotFound),
        ("GET", "/api/v1/jobs/a/b/c", RouteNotFound),
        ("DELETE", "/api/v1/jobs", MethodNotAllowed),
        ("GET", "/api/v1/jobs/abc/complete", MethodNotAllowed),
    ],
)
def test_rejects(method: str, path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        ROUTER.resolve(_request(method, path))
