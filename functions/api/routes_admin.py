"""The operator's admin API (contract §2.15): every route checks X-Admin-Key itself, after a
per-client-IP limit (60/min by default) that also slows down guessing the admin key."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.authentication import require_admin
from shared.identity.credentials import AuthContext
from shared.identity.rate_limits import RateLimiter, client_ip
from shared.operations.admin import Admin
from shared.plumbing.config import settings
from shared.plumbing.request_models import parse_body

ADMIN = "/api/v1/admin"


def _models() -> Any:
    # The request models are built on first use, so a cold start serving jobs never pays for them.
    from shared.identity import requests as account_models

    return account_models


@lru_cache(maxsize=1)
def admin() -> Admin:
    return Admin()


@lru_cache(maxsize=1)
def limiter() -> RateLimiter:
    return RateLimiter()


def _authorize(req: ApiRequest) -> dict[str, str]:
    window = limiter().require(
        "ip", f"admin#{client_ip(req.headers, req.source_ip)}", settings().admin_rate_limit_per_minute
    )
    require_admin(req.headers)
    return window.headers()


def list_organizations(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    body = admin().list_organizations(
        plan_tier=req.query.get("plan_tier") or None,
        search=req.query.get("search") or None,
        sort_by=req.query.get("sort_by") or None,
        descending=req.query.get("sort_order", "desc").lower() != "asc",
        limit=req.query_int("limit", 50, 1, 100),
        offset=req.query_int("offset", 0, 0, 1_000_000),
    )
    return ApiResponse(200, body, headers)


def create_organization(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    created = admin().create_organization(
        parse_body(_models().AdminCreateOrganization, req.body), req.headers
    )
    return ApiResponse(201, {"organization": created.organization, "api_key": created.api_key}, headers)


def get_organization(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    return ApiResponse(200, admin().get_organization(req.path_params["id"]), headers)


def update_organization(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    body = parse_body(_models().AdminUpdateOrganization, req.body, optional=True)
    return ApiResponse(200, admin().update_organization(req.path_params["id"], body), headers)


def delete_organization(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    hard = req.query.get("hard_delete", "").lower() in ("true", "1")
    admin().delete_organization(req.path_params["id"], hard)
    return ApiResponse(204, headers=headers)


def create_api_key(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    body = parse_body(_models().CreateApiKey, req.body)
    return ApiResponse(201, admin().create_api_key(req.path_params["id"], body), headers)


def reset_usage(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    return ApiResponse(200, admin().reset_usage(req.path_params["id"]), headers)


def stats(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    return ApiResponse(200, admin().stats(), headers)


def plans(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    headers = _authorize(req)
    return ApiResponse(200, admin().plans(), headers)


ROUTES = [
    Route("GET", f"{ADMIN}/organizations", list_organizations, public=True),
    Route("POST", f"{ADMIN}/organizations", create_organization, public=True),
    Route("GET", f"{ADMIN}/organizations/{{id}}", get_organization, public=True),
    Route("PATCH", f"{ADMIN}/organizations/{{id}}", update_organization, public=True),
    Route("DELETE", f"{ADMIN}/organizations/{{id}}", delete_organization, public=True),
    Route("POST", f"{ADMIN}/organizations/{{id}}/api-keys", create_api_key, public=True),
    Route("POST", f"{ADMIN}/organizations/{{id}}/reset-usage", reset_usage, public=True),
    Route("GET", f"{ADMIN}/stats", stats, public=True),
    Route("GET", f"{ADMIN}/plans", plans, public=True),
]
