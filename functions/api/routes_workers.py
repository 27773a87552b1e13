"""Worker registration endpoints (contract §2.6)."""

from __future__ import annotations

from functools import lru_cache

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.jobs import requests as m
from shared.jobs.workers.directory import WorkerDirectory
from shared.jobs.workers.registry import WorkerRegistry
from shared.plumbing import request_models

V1 = "/api/v1"


@lru_cache(maxsize=1)
def registry() -> WorkerRegistry:
    return WorkerRegistry()


def register(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.RegisterWorker, req.body)
    ctx.require_queue(body.queue_name)
    return ApiResponse(
        201,
        registry().register(
            ctx.org_id,
            queue_name=body.queue_name,
            hostname=body.hostname,
            worker_id=body.worker_id,
            worker_type=body.worker_type,
            max_concurrency=body.max_concurrency,
            metadata=body.metadata,
            version=body.version,
        ),
    )


def heartbeat(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.WorkerHeartbeat, req.body)
    registry().heartbeat(
        ctx,
        req.path_params["id"],
        current_jobs=body.current_jobs,
        status=body.status,
        metadata=body.metadata,
    )
    return ApiResponse(200)


def deregister(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    registry().deregister(ctx, req.path_params["id"])
    return ApiResponse(204)


@lru_cache(maxsize=1)
def directory() -> WorkerDirectory:
    return WorkerDirectory()


def list_workers(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, directory().list(ctx))


def get_worker(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, directory().get(ctx, req.path_params["id"]))


ROUTES = [
    Route("GET", f"{V1}/workers", list_workers, returns="WorkerSummary[]"),
    Route("GET", f"{V1}/workers/{{id}}", get_worker, returns="Worker"),
    Route("POST", f"{V1}/workers/register", register, returns="WorkerRegistered", errors=(409,)),
    Route("POST", f"{V1}/workers/{{id}}/heartbeat", heartbeat),
    Route("POST", f"{V1}/workers/{{id}}/deregister", deregister),
]
