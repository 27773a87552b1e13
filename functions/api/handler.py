"""The API Lambda: every HTTP route of the Spooled REST API (API Gateway HTTP API, payload v2)."""

from __future__ import annotations

import logging
from typing import Any

from functions.api import routes_jobs, routes_system, routes_workers
from functions.api.http import ApiResponse, error_response, request_from_event, to_lambda_response
from functions.api.router import Router
from shared.auth import authenticate
from shared.errors import SpooledError

logger = logging.getLogger("spooled.api")
logger.setLevel(logging.INFO)

ROUTER = Router(routes_jobs.ROUTES + routes_workers.ROUTES + routes_system.ROUTES)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request = request_from_event(event)
    try:
        route = ROUTER.resolve(request)
        ctx = None if route.public else authenticate(request.headers)
        response = route.handler(request, ctx)
    except SpooledError as error:
        response = error_response(error)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        response = ApiResponse(500, {"code": "INTERNAL_ERROR", "message": "Internal server error"})
    return to_lambda_response(response, request.request_id)
