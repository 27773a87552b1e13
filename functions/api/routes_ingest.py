"""Incoming webhooks (contract §2.9): three ingestion routes and the inbound delivery log.

The ingestion routes are public in the router's sense (no API key): each verifies its own
credential, over the exact bytes of the request body, inside shared/webhooks/inbound/ingest.py.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext

if TYPE_CHECKING:
    from shared.webhooks.inbound.ingest import Accepted, WebhookIngest

V1 = "/api/v1"


@lru_cache(maxsize=1)
def service() -> WebhookIngest:
    # Imported on first use: a cold start serving jobs does not pay for the ingestion models.
    from shared.webhooks.inbound.ingest import WebhookIngest

    return WebhookIngest()


def _accepted(accepted: Accepted) -> ApiResponse:
    return ApiResponse(200, accepted.document(), accepted.rate_headers)


def custom(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return _accepted(service().custom(req.path_params["org_id"], req.headers, req.body))


def github(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return _accepted(service().github(req.path_params["org_id"], req.headers, req.body))


def stripe(req: ApiRequest, ctx: AuthContext | None) -> ApiResponse:
    return _accepted(service().stripe(req.path_params["org_id"], req.headers, req.body))


def deliveries(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    page = service().deliveries(
        ctx,
        status=req.query.get("status") or None,
        since=req.query.get("since") or None,
        queue_name=req.query.get("queue_name") or None,
        limit=req.query_int("limit", 50, 1, 100),
        offset=req.query_int("offset", 0, 0, 1_000_000),
    )
    return ApiResponse(200, page.rows, {"X-Has-More": "true" if page.has_more else "false"})


ROUTES = [
    Route(
        "POST",
        f"{V1}/webhooks/{{org_id}}/custom",
        custom,
        public=True,
        errors=(401, 404, 413, 429),
        ip_limited=False,
    ),
    Route(
        "POST",
        f"{V1}/webhooks/{{org_id}}/github",
        github,
        public=True,
        errors=(401, 404, 413, 429),
        ip_limited=False,
    ),
    Route(
        "POST",
        f"{V1}/webhooks/{{org_id}}/stripe",
        stripe,
        public=True,
        errors=(401, 404, 413, 429),
        ip_limited=False,
    ),
    Route("GET", f"{V1}/webhooks/deliveries", deliveries),
]
