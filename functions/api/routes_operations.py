"""Operations: the dashboard summary (contract §2.2) and Prometheus metrics (§2.1)."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from functions.api.activity_series import ActivitySeries
from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity import deployment_secrets
from shared.identity.credentials import AuthContext, bearer_token
from shared.operations.dashboard import Dashboard
from shared.operations.metrics import CONTENT_TYPE, Metrics
from shared.plumbing.errors import Unauthorized


@lru_cache(maxsize=1)
def dashboard() -> Dashboard:
    return Dashboard()


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    return Metrics()


def get_dashboard(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, dashboard().document(ctx))


@lru_cache(maxsize=1)
def activity() -> ActivitySeries:
    return ActivitySeries()


def get_activity(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    """Jobs created, completed and failed, and queue depth, per minute over the last hour."""
    return ApiResponse(200, activity().document(ctx, req.query.get("queue_name") or None))


def get_metrics(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    expected = deployment_secrets.metrics_token()
    if expected is not None:
        given = bearer_token(req.headers) or ""
        # Compare digests: the comparison's time says nothing about the token.
        if not hmac.compare_digest(
            hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
        ):
            raise Unauthorized("GET /metrics needs the metrics token: Authorization: Bearer <METRICS_TOKEN>")
    return ApiResponse(200, text=metrics().text(), headers={"Content-Type": CONTENT_TYPE})


ROUTES = [
    Route("GET", "/api/v1/dashboard", get_dashboard, returns="Dashboard"),
    Route("GET", "/api/v1/dashboard/activity", get_activity, returns="DashboardActivity"),
    Route("GET", "/metrics", get_metrics, public=True),
]
