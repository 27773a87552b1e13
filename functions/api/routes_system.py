"""Health probes and the operator's admin API (contract §2.1, §2.15)."""

from __future__ import annotations

import time

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared import api_models as m
from shared import aws_clients
from shared.auth import AuthContext, require_admin
from shared.config import settings
from shared.organizations import create_organization

STARTED = time.time()


def _database_ok() -> bool:
    try:
        aws_clients.client("dynamodb").describe_table(TableName=settings().table_name)
        return True
    except Exception:  # any failure to reach the table means "not ready", never a 500
        return False


def health(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    healthy = _database_ok()
    return ApiResponse(
        200,
        {
            "status": "healthy" if healthy else "degraded",
            "database": healthy,
            "cache": True,
            "uptime_seconds": int(time.time() - STARTED),
        },
    )


def live(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return ApiResponse(200, text="")


def ready(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return ApiResponse(200, text="") if _database_ok() else ApiResponse(503, text="database unavailable")


def admin_create_organization(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    require_admin(req.headers)
    body = m.parse_body(m.CreateOrganization, req.body)
    created = create_organization(
        body.name, body.slug, plan_tier=body.plan_tier, billing_email=body.billing_email
    )
    return ApiResponse(201, {"organization": created.organization, "api_key": created.api_key})


ROUTES = [
    Route("GET", "/health", health, public=True),
    Route("GET", "/health/live", live, public=True),
    Route("GET", "/health/ready", ready, public=True),
    Route("POST", "/api/v1/admin/organizations", admin_create_organization, public=True),
]
