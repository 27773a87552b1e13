"""Job, worker-protocol and dead-letter endpoints (contract §2.4): parse, call the service, map."""

from __future__ import annotations

from functools import lru_cache

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.jobs import requests as m
from shared.jobs.dependencies import Dependencies
from shared.jobs.service import JobService, Page
from shared.plumbing import request_models

V1 = "/api/v1"


@lru_cache(maxsize=1)
def service() -> JobService:
    return JobService()


@lru_cache(maxsize=1)
def dependencies() -> Dependencies:
    return Dependencies(service().store)


def _page(page: Page) -> ApiResponse:
    return ApiResponse(200, page.rows, {"X-Has-More": "true" if page.has_more else "false"})


def create(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body, created = service().create(ctx, request_models.parse_body(m.CreateJob, req.body))
    return ApiResponse(201 if created else 200, body)


def bulk(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().bulk_create(ctx, request_models.parse_body(m.BulkCreate, req.body)))


def list_jobs(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return _page(
        service().list(
            ctx,
            queue=req.query.get("queue_name") or req.query.get("queue"),
            status=req.query.get("status"),
            tag=req.query.get("tag") or None,
            limit=req.query_int("limit", 50, 1, 100),
            offset=req.query_int("offset", 0, 0, 1_000_000),
        )
    )


def get_job(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().get(ctx, req.path_params["id"]))


def cancel(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    service().cancel(ctx, req.path_params["id"])
    return ApiResponse(204)


def retry(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().retry(ctx, req.path_params["id"]))


def set_priority(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.SetPriority, req.body)
    return ApiResponse(200, service().set_priority(ctx, req.path_params["id"], body))


def stats(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().stats(ctx, req.query.get("queue_name") or req.query.get("queue")))


def batch_status(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().batch_status(ctx, req.query.get("ids")))


def history(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return _page(
        service().history(
            ctx,
            req.path_params["id"],
            descending=req.query.get("order_dir", "asc").lower() == "desc",
            limit=req.query_int("limit", 100, 1, 500),
            offset=req.query_int("offset", 0, 0, 1_000_000),
        )
    )


def claim(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().claim(ctx, request_models.parse_body(m.Claim, req.body)))


def complete(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.Complete, req.body)
    return ApiResponse(200, service().complete(ctx, req.path_params["id"], body))


def fail(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.Fail, req.body)
    return ApiResponse(200, service().fail(ctx, req.path_params["id"], body))


def heartbeat(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.JobHeartbeat, req.body)
    return ApiResponse(200, service().heartbeat(ctx, req.path_params["id"], body))


def list_dead_letter(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return _page(
        service().list_dead_letter(
            ctx,
            queue=req.query.get("queue_name") or req.query.get("queue"),
            limit=req.query_int("limit", 50, 1, 100),
            offset=req.query_int("offset", 0, 0, 1_000_000),
        )
    )


def retry_dead_letter(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.DlqRetry, req.body, optional=True)
    return ApiResponse(200, service().retry_dead_letter(ctx, body))


def purge_dead_letter(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().purge_dead_letter(ctx, request_models.parse_body(m.DlqPurge, req.body)))


def get_dependencies(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, dependencies().document(ctx, req.path_params["id"]))


def add_dependencies(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = request_models.parse_body(m.AddDependencies, req.body)
    return ApiResponse(
        200, dependencies().add(ctx, req.path_params["id"], body.depends_on, body.dependency_mode)
    )


ROUTES = [
    Route("POST", f"{V1}/jobs", create, returns="JobCreated", errors=(413,)),
    Route("GET", f"{V1}/jobs", list_jobs, returns="JobSummary[]"),
    Route("POST", f"{V1}/jobs/bulk", bulk, returns="BulkResult", errors=(413,)),
    Route("GET", f"{V1}/jobs/stats", stats, returns="JobStats", errors=(404,)),
    Route("GET", f"{V1}/jobs/status", batch_status, returns="BatchJobStatus[]", errors=(400,)),
    Route("POST", f"{V1}/jobs/claim", claim, returns="ClaimResult"),
    Route("GET", f"{V1}/jobs/dlq", list_dead_letter, returns="JobSummary[]"),
    Route("POST", f"{V1}/jobs/dlq/retry", retry_dead_letter, returns="DlqRetried"),
    Route("POST", f"{V1}/jobs/dlq/purge", purge_dead_letter, returns="DlqPurged"),
    Route("GET", f"{V1}/jobs/{{id}}", get_job, returns="Job"),
    Route("DELETE", f"{V1}/jobs/{{id}}", cancel, errors=(404, 409)),
    Route("POST", f"{V1}/jobs/{{id}}/retry", retry, returns="Job", errors=(409,)),
    Route("PUT", f"{V1}/jobs/{{id}}/priority", set_priority, returns="PriorityChanged"),
    Route("GET", f"{V1}/jobs/{{id}}/history", history, returns="JobHistoryEvent[]"),
    Route("POST", f"{V1}/jobs/{{id}}/complete", complete, returns="Success", errors=(409,)),
    Route("POST", f"{V1}/jobs/{{id}}/fail", fail, returns="Success", errors=(409,)),
    Route("POST", f"{V1}/jobs/{{id}}/heartbeat", heartbeat, returns="Success", errors=(409,)),
    Route("GET", f"{V1}/jobs/{{id}}/dependencies", get_dependencies),
    Route("POST", f"{V1}/jobs/{{id}}/dependencies", add_dependencies),
]
