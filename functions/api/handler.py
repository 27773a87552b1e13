"""The API Lambda: every HTTP route of the Spooled REST API (API Gateway HTTP API, payload v2)."""

from __future__ import annotations

import logging
from functools import lru_cache
from itertools import pairwise
from typing import Any

from functions.api import (
    routes_admin,
    routes_api_keys,
    routes_auth,
    routes_dashboard_ui,
    routes_docs,
    routes_events,
    routes_ingest,
    routes_jobs,
    routes_operations,
    routes_organizations,
    routes_outgoing_webhooks,
    routes_queues,
    routes_saas_only,
    routes_schedules,
    routes_system,
    routes_workers,
    routes_workflows,
)
from functions.api.http import (
    ApiRequest,
    ApiResponse,
    error_response,
    request_from_event,
    to_lambda_response,
)
from functions.api.router import Router
from shared.identity.authentication import authenticate
from shared.identity.credentials import AuthContext
from shared.identity.rate_limits import RateLimiter, client_ip
from shared.plumbing import observability
from shared.plumbing.config import settings
from shared.plumbing.errors import SpooledError, Unauthorized, unavailable_from_aws

logger = logging.getLogger("spooled.api")
# A route's path parameter → the log key it fills (e.g. /api/v1/jobs/{id} → job_id).
_LOG_KEYS = {"jobs": "job_id", "workers": "worker_id", "queues": "queue", "schedules": "schedule_id"}

ROUTER = Router(
    routes_jobs.ROUTES
    + routes_workers.ROUTES
    + routes_system.ROUTES
    + routes_auth.ROUTES
    + routes_api_keys.ROUTES
    + routes_organizations.ROUTES
    + routes_queues.ROUTES
    + routes_operations.ROUTES
    + routes_admin.ROUTES
    + routes_saas_only.ROUTES
    + routes_schedules.ROUTES
    + routes_ingest.ROUTES
    + routes_dashboard_ui.ROUTES
    + routes_docs.ROUTES
    + routes_outgoing_webhooks.ROUTES
    + routes_workflows.ROUTES
    + routes_events.ROUTES
)


@lru_cache(maxsize=1)
def limiter() -> RateLimiter:
    return RateLimiter()


def _credentials(request: ApiRequest) -> dict[str, str]:
    """An EventSource cannot set headers: SSE streams also take `?token=` or `?api_key=` (§2.11)."""
    token = request.query.get("token") or request.query.get("api_key")
    if token and request.path.startswith("/api/v1/events") and "authorization" not in request.headers:
        return {**request.headers, "authorization": f"Bearer {token}"}
    return request.headers


def _count_address(request: ApiRequest) -> dict[str, str]:
    """One request without a valid credential, against its client address's limit (429 when over);
    returns the limit's headers."""
    limit = settings().ip_rate_limit_per_minute
    if not limit:
        return {}
    return limiter().require("ip", client_ip(request.headers, request.source_ip), limit).headers()


def _authenticate(request: ApiRequest) -> AuthContext:
    """A failed authentication counts against the client address: guessing keys, or flooding the
    API with bad ones, meets 429 after the per-address limit (issue 12, finding 2)."""
    try:
        return authenticate(_credentials(request))
    except Unauthorized:
        _count_address(request)
        raise


def _log_keys(template: str, params: dict[str, str]) -> dict[str, str]:
    segments = template.strip("/").split("/")
    keys: dict[str, str] = {}
    for before, segment in pairwise(segments):
        name = _LOG_KEYS.get(before)
        if name and segment.startswith("{") and segment[1:-1] in params:
            keys[name] = params[segment[1:-1]]
    return keys


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request = request_from_event(event)
    observability.begin(context, request.request_id)
    try:
        return _handle(request)
    finally:
        observability.flush()


def _handle(request: Any) -> dict[str, Any]:
    rate_headers: dict[str, str] = {}
    try:
        route = ROUTER.resolve(request)
        observability.bind(**_log_keys(route.template, request.path_params))
        ctx = None if route.public else _authenticate(request)
        if ctx is None and route.ip_limited:
            rate_headers = _count_address(request)
        if ctx is not None:
            observability.bind(org_id=ctx.org_id)
            # Counted before the route runs: a refused request has written nothing (contract §1.6).
            verdict = limiter().admit(ctx)
            rate_headers = verdict.headers()
            verdict.raise_if_refused()
        response = route.handler(request, ctx)
    except SpooledError as error:
        response = error_response(error)
        rate_headers = {**rate_headers, **getattr(error, "response_headers", {})}
    except Exception as error:
        busy = unavailable_from_aws(error)
        if busy is not None:  # AWS throttled or failed after the client's retries: 503, retry later
            logger.warning("AWS unavailable on %s %s: %s", request.method, _template_of(request), error)
            response = error_response(busy)
        else:
            # The route's template, not the path: an ingest path may carry a token one day.
            logger.exception("unhandled error on %s %s", request.method, _template_of(request))
            response = ApiResponse(500, {"code": "INTERNAL_ERROR", "message": "Internal server error"})
    response.headers.update(rate_headers)
    # One line per request: the route's template (never the path, query, headers or body), the
    # status, and the correlation id and org/queue/job/worker keys bound above.
    logger.log(
        logging.ERROR if response.status >= 500 else logging.INFO,
        "%s %s answered %d",
        request.method,
        _template_of(request),
        response.status,
    )
    return to_lambda_response(response, request.request_id)


def _template_of(request: Any) -> str:
    try:
        return ROUTER.resolve(request).template
    except SpooledError:
        return "(no route)"
