"""Server-sent events (contract §2.11, docs/sse.md): one buffered window per request.

Imports of the event log are deferred to the first SSE request, so the API handler's cold start
does not pay for them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from functions.api.http import ApiRequest, ApiResponse
from functions.api.router import Route
from shared.identity.credentials import AuthContext

if TYPE_CHECKING:
    from shared.live.event_log import EventLog

V1 = "/api/v1"
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@lru_cache(maxsize=1)
def event_log() -> EventLog:
    from shared.live.event_log import EventLog

    return EventLog()


def _window(req: ApiRequest, ctx: AuthContext, kind: str, target: str = "") -> ApiResponse:
    from shared.live import sse

    job: dict[str, Any] | None = None
    if kind == "jobs":
        from functions.api.routes_jobs import service

        job = service().get(ctx, target)  # 404 for a job that does not exist or is out of scope
    want = sse.stream_filter(ctx, kind, req.query, target)
    log = event_log()
    credential = ctx.api_key_id or (ctx.token.sub if ctx.token else "") or ctx.org_id
    stream = sse.stream_key(req.path, req.query)
    last_id = req.headers.get("last-event-id") or req.query.get("last_event_id")
    start, fresh = sse.resume_from(log, credential, stream, last_id)
    now_ms = log.clock.now_ms()
    snapshot: list[tuple[str, Any]] = []
    if job is not None and fresh:
        snapshot = [(str(start), sse.job_snapshot(job, now_ms))]
    if snapshot and job is not None and job["status"] in sse.TERMINAL:
        window = sse.Window(position=start, finished=True)
    else:
        window = sse.serve_window(log, want, start, job_stream=kind == "jobs")
    events = snapshot + window.events
    position = window.position or start
    if window.finished and not fresh:
        log.forget_position(credential, stream)  # a later stream of this job starts afresh
    elif not last_id and not window.finished:
        log.save_position(credential, stream, position)
    trailer = None if window.finished else (str(position), sse.health_frame(log.clock.now_ms()))
    return ApiResponse(200, headers=dict(HEADERS), text=sse.render(events, trailer))


def org_events(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return _window(req, ctx, "org")


def job_events(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return _window(req, ctx, "jobs", req.path_params["id"])


def queue_events(req: ApiRequest, ctx: AuthContext) -> ApiResponse:
    return _window(req, ctx, "queues", req.path_params["name"])


ROUTES = [
    Route("GET", f"{V1}/events", org_events),
    Route("GET", f"{V1}/events/jobs/{{id}}", job_events),
    Route("GET", f"{V1}/events/queues/{{name}}", queue_events),
]
