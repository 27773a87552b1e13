"""Health probes (contract §2.1). The admin API is in routes_admin.py."""

from __future__ import annotations

import time

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared import aws_clients
from shared import dynamo_expressions as ex
from shared.auth import AuthContext
from shared.config import settings

STARTED = time.time()


def _database_ok() -> bool:
    # A data-plane read of a fixed key: public probes must not spend the control plane's small
    # DescribeTable quota, and a read proves more than the table's existence.
    try:
        aws_clients.client("dynamodb").get_item(TableName=settings().table_name, Key=ex.health_probe_key())
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


ROUTES = [
    Route("GET", "/health", health, public=True, returns="Health"),
    Route("GET", "/health/live", live, public=True),
    Route("GET", "/health/ready", ready, public=True),
]
