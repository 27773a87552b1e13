"""Workflow endpoints (contract §2.8): parse, call the service, map."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.plumbing import request_models as m
from shared.workflows import requests as workflow_requests

if TYPE_CHECKING:
    from shared.workflows.service import WorkflowService

V1 = "/api/v1"


@lru_cache(maxsize=1)
def service() -> WorkflowService:
    # Imported on first use: a cold start serving jobs does not pay for the workflow code.
    from shared.workflows.service import WorkflowService

    return WorkflowService()


def create(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    # 200, not 201: the contract (§5) keeps the reference's status for this create.
    return ApiResponse(200, service().create(ctx, m.parse_body(workflow_requests.CreateWorkflow, req.body)))


def list_workflows(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(
        200,
        service().list(
            ctx,
            status=req.query.get("status"),
            limit=req.query_int("limit", 50, 1, 100),
            offset=req.query_int("offset", 0, 0, 1_000_000),
        ),
    )


def get_workflow(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().get(ctx, req.path_params["id"]))


def cancel(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().cancel(ctx, req.path_params["id"]))


def retry(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().retry(ctx, req.path_params["id"]))


ROUTES = [
    Route("POST", f"{V1}/workflows", create),
    Route("GET", f"{V1}/workflows", list_workflows),
    Route("GET", f"{V1}/workflows/{{id}}", get_workflow),
    Route("POST", f"{V1}/workflows/{{id}}/cancel", cancel),
    Route("POST", f"{V1}/workflows/{{id}}/retry", retry),
]
