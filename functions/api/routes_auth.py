"""JWT auth endpoints (contract §2.3): login, refresh, validate, me, logout."""

from __future__ import annotations

from typing import Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.identity.sessions import sessions
from shared.plumbing.request_models import parse_body

V1 = "/api/v1"


def _models() -> Any:
    # The request models are built on first use, so a cold start serving jobs never pays for them.
    from shared.identity import requests as account_models

    return account_models


def login(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return ApiResponse(200, sessions().login(parse_body(_models().Login, req.body).api_key))


def refresh(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return ApiResponse(200, sessions().refresh(parse_body(_models().Refresh, req.body).refresh_token))


def validate(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return ApiResponse(200, sessions().validate(parse_body(_models().Validate, req.body).token))


def me(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, sessions().me(ctx))


def logout(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = parse_body(_models().Logout, req.body, optional=True)
    sessions().logout(ctx, body.refresh_token)
    return ApiResponse(204)


ROUTES = [
    Route("POST", f"{V1}/auth/login", login, public=True),
    Route("POST", f"{V1}/auth/refresh", refresh, public=True),
    Route("POST", f"{V1}/auth/validate", validate, public=True),
    Route("GET", f"{V1}/auth/me", me),
    Route("POST", f"{V1}/auth/logout", logout),
]
