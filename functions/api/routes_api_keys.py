"""API key endpoints (contract §2.12)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.api_keys import ApiKeyService
from shared.identity.credentials import AuthContext
from shared.plumbing.request_models import parse_body

V1 = "/api/v1"


def _models() -> Any:
    # The request models are built on first use, so a cold start serving jobs never pays for them.
    from shared.identity import requests as account_models

    return account_models


@lru_cache(maxsize=1)
def service() -> ApiKeyService:
    return ApiKeyService()


def list_keys(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().list(ctx))


def create(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(201, service().create(ctx, parse_body(_models().CreateApiKey, req.body)))


def get_key(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().get(ctx, req.path_params["id"]))


def update(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = parse_body(_models().UpdateApiKey, req.body, optional=True)
    return ApiResponse(200, service().update(ctx, req.path_params["id"], body))


def revoke(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    service().revoke(ctx, req.path_params["id"])
    return ApiResponse(204)


ROUTES = [
    Route("GET", f"{V1}/api-keys", list_keys),
    Route("POST", f"{V1}/api-keys", create),
    Route("GET", f"{V1}/api-keys/{{id}}", get_key),
    Route("PUT", f"{V1}/api-keys/{{id}}", update),
    Route("DELETE", f"{V1}/api-keys/{{id}}", revoke),
]
