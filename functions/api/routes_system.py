"""Health probes (contract §2.1). The admin API is in routes_admin.py."""

from __future__ import annotations

import time

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.plumbing import table_service

STARTED = time.time()


def _database_ok() -> bool:
    return table_service.table_answers()


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


ROUTES = [
    Route("GET", "/health", health, public=True, returns="Health"),
    Route("GET", "/health/live", live, public=True),
    Route("GET", "/health/ready", ready, public=True),
]
