"""Schedule endpoints (contract §2.7): parse, call the service, map."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext
from shared.plumbing.request_models import parse_body

if TYPE_CHECKING:
    from shared.schedules.service import ScheduleService

V1 = "/api/v1"


def _models() -> Any:
    # Imported on first use, like the service: a cold start serving jobs never pays for them.
    from shared.schedules import requests as schedule_models

    return schedule_models


@lru_cache(maxsize=1)
def service() -> ScheduleService:
    # Imported on first use: cron parsing, arming and firing are no cost to a cold start serving jobs.
    from shared.schedules.service import ScheduleService

    return ScheduleService()


def _flag(value: str | None) -> bool | None:
    """true/false as the SDK sends them; anything else means "no filter"."""
    if value is None:
        return None
    return {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower())


def create(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(201, service().create(ctx, parse_body(_models().CreateSchedule, req.body)))


def list_schedules(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    rows = service().list(
        ctx,
        queue=req.query.get("queue_name") or None,
        is_active=_flag(req.query.get("is_active")),
        limit=req.query_int("limit", 50, 1, 100),
        offset=req.query_int("offset", 0, 0, 1_000_000),
    )
    return ApiResponse(200, rows)


def get_schedule(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().get(ctx, req.path_params["id"]))


def update(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    body = parse_body(_models().UpdateSchedule, req.body)
    return ApiResponse(200, service().update(ctx, req.path_params["id"], body))


def delete(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    service().delete(ctx, req.path_params["id"])
    return ApiResponse(204)


def pause(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().pause(ctx, req.path_params["id"]))


def resume(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().resume(ctx, req.path_params["id"]))


def trigger(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return ApiResponse(200, service().trigger(ctx, req.path_params["id"]))


def history(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    limit = req.query_int("limit", 50, 1, 500)
    return ApiResponse(200, service().history(ctx, req.path_params["id"], limit))


ROUTES = [
    Route("POST", f"{V1}/schedules", create),
    Route("GET", f"{V1}/schedules", list_schedules),
    Route("GET", f"{V1}/schedules/{{id}}", get_schedule),
    Route("PUT", f"{V1}/schedules/{{id}}", update),
    Route("DELETE", f"{V1}/schedules/{{id}}", delete),
    Route("POST", f"{V1}/schedules/{{id}}/pause", pause),
    Route("POST", f"{V1}/schedules/{{id}}/resume", resume),
    Route("POST", f"{V1}/schedules/{{id}}/trigger", trigger),
    Route("GET", f"{V1}/schedules/{{id}}/history", history),
]
