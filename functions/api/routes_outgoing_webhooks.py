"""Outgoing webhook endpoints (contract §2.10): parse, call the service, map."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.plumbing.request_models import parse_body

if TYPE_CHECKING:
    from shared.webhooks.outgoing.service import OutgoingWebhookService

V1 = "/api/v1"
HOOKS = f"{V1}/outgoing-webhooks"


def _models() -> Any:
    # The request models are built on first use, so a cold start serving jobs never pays for them.
    from shared.webhooks.outgoing import requests as outgoing_webhook_models

    return outgoing_webhook_models


@lru_cache(maxsize=1)
def service() -> OutgoingWebhookService:
    # Imported on first use: the delivery code (TLS, DNS policy) is no cost to a cold start serving jobs.
    from shared.webhooks.outgoing.service import OutgoingWebhookService

    return OutgoingWebhookService()


def create(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(201, service().create(ctx, parse_body(_models().CreateWebhook, req.body)))


def list_webhooks(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().list(ctx))


def get_webhook(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().get(ctx, req.path_params["id"]))


def update(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = parse_body(_models().UpdateWebhook, req.body, optional=True)
    return ApiResponse(200, service().update(ctx, req.path_params["id"], body))


def delete(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    service().delete(ctx, req.path_params["id"])
    return ApiResponse(204)


def send_test(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().test(ctx, req.path_params["id"]))


def deliveries(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    rows = service().deliveries(
        ctx,
        req.path_params["id"],
        status=req.query.get("status") or None,
        limit=req.query_int("limit", 50, 1, 100),
        offset=req.query_int("offset", 0, 0, 1_000_000),
    )
    return ApiResponse(200, rows)


def retry(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().retry(ctx, req.path_params["id"], req.path_params["delivery_id"]))


ROUTES = [
    Route("POST", HOOKS, create),
    Route("GET", HOOKS, list_webhooks),
    Route("GET", f"{HOOKS}/{{id}}", get_webhook),
    Route("PUT", f"{HOOKS}/{{id}}", update),
    Route("DELETE", f"{HOOKS}/{{id}}", delete),
    Route("POST", f"{HOOKS}/{{id}}/test", send_test),
    Route("GET", f"{HOOKS}/{{id}}/deliveries", deliveries),
    Route("POST", f"{HOOKS}/{{id}}/retry/{{delivery_id}}", retry),
]
