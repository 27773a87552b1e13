"""Queue endpoints (contract §2.5)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.jobs.queues.config import QueueConfigService
from shared.plumbing.request_models import parse_body

V1 = "/api/v1"


def _models() -> Any:
    # The request models are built on first use, so a cold start serving jobs never pays for them.
    from shared.identity import requests as account_models

    return account_models


@lru_cache(maxsize=1)
def service() -> QueueConfigService:
    return QueueConfigService()


def list_queues(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().list(ctx))


def get_queue(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().get(ctx, req.path_params["name"]))


def update_config(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = parse_body(_models().QueueConfigUpdate, req.body, optional=True)
    return ApiResponse(200, service().update_config(ctx, req.path_params["name"], body))


def stats(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().stats(ctx, req.path_params["name"]))


def pause(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = parse_body(_models().PauseQueue, req.body, optional=True)
    return ApiResponse(200, service().pause(ctx, req.path_params["name"], body))


def resume(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().resume(ctx, req.path_params["name"]))


def delete(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    delete_jobs = req.query.get("delete_jobs", "").lower() in ("true", "1")
    service().delete(ctx, req.path_params["name"], delete_jobs)
    return ApiResponse(204)


ROUTES = [
    Route("GET", f"{V1}/queues", list_queues, returns="QueueSummary[]"),
    Route("GET", f"{V1}/queues/{{name}}", get_queue, returns="QueueConfig", errors=(400,)),
    Route("DELETE", f"{V1}/queues/{{name}}", delete, errors=(409,)),
    Route("PUT", f"{V1}/queues/{{name}}/config", update_config, returns="QueueConfig"),
    Route("GET", f"{V1}/queues/{{name}}/stats", stats, returns="QueueStats", errors=(400,)),
    Route("POST", f"{V1}/queues/{{name}}/pause", pause, returns="QueuePaused"),
    Route("POST", f"{V1}/queues/{{name}}/resume", resume, returns="QueueResumed"),
]
