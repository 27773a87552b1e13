"""Organization endpoints (contract §2.13)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.identity.rate_limits import SLUG_CHECKS_PER_MINUTE, RateLimiter, client_ip
from shared.operations.organization_service import OrganizationService
from shared.plumbing.request_models import parse_body

V1 = "/api/v1"


def _models() -> Any:
    # The request models are built on first use, so a cold start serving jobs never pays for them.
    from shared.identity import requests as account_models

    return account_models


@lru_cache(maxsize=1)
def service() -> OrganizationService:
    return OrganizationService()


@lru_cache(maxsize=1)
def limiter() -> RateLimiter:
    return RateLimiter()


def create(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    created = service().register_public(parse_body(_models().CreateOrganization, req.body), req.headers)
    return ApiResponse(201, {"organization": created.organization, "api_key": created.api_key})


def list_orgs(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().list(ctx))


def get_org(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().get(ctx, req.path_params["id"]))


def update(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = parse_body(_models().UpdateOrganization, req.body, optional=True)
    return ApiResponse(200, service().update(ctx, req.path_params["id"], body))


def delete(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    service().delete(ctx, req.path_params["id"])
    return ApiResponse(204)


def usage(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().usage(ctx))


def members(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().members(ctx, req.path_params["id"]))


def check_slug(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    subject = f"slug-check#{client_ip(req.headers, req.source_ip)}"
    window = limiter().require("ip", subject, SLUG_CHECKS_PER_MINUTE)
    return ApiResponse(200, service().check_slug(req.query.get("slug", "")), window.headers())


def generate_slug(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return ApiResponse(200, service().generate_slug(parse_body(_models().GenerateSlug, req.body).name))


def webhook_token(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().webhook_token(ctx))


def regenerate_webhook_token(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().regenerate_webhook_token(ctx))


def clear_webhook_token(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    service().clear_webhook_token(ctx)
    return ApiResponse(204)  # not reached: clearing is always refused (contract §2.13)


ROUTES = [
    Route("POST", f"{V1}/organizations", create, public=True),
    Route("GET", f"{V1}/organizations", list_orgs),
    Route("GET", f"{V1}/organizations/usage", usage),
    Route("GET", f"{V1}/organizations/check-slug", check_slug, public=True),
    Route("POST", f"{V1}/organizations/generate-slug", generate_slug, public=True),
    Route("GET", f"{V1}/organizations/webhook-token", webhook_token),
    Route("POST", f"{V1}/organizations/webhook-token/regenerate", regenerate_webhook_token),
    Route("POST", f"{V1}/organizations/webhook-token/clear", clear_webhook_token),
    Route("GET", f"{V1}/organizations/{{id}}", get_org),
    Route("PUT", f"{V1}/organizations/{{id}}", update),
    Route("DELETE", f"{V1}/organizations/{{id}}", delete),
    Route("GET", f"{V1}/organizations/{{id}}/members", members),
]
