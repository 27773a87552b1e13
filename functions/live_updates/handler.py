"""The live-updates Lambda (contract §2.11, docs/live-updates.md). Two kinds of events reach it:

  requestContext.routeKey $connect / $disconnect / $default   the API Gateway WebSocket API
  Records from aws:dynamodb                                    the jobs table's stream (its 2nd reader)

`make dev` drives the same function from the local gateway (local_stack/websocket_gateway.py) and
the stream poller.
"""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache
from typing import Any

from functions.api.http import ApiResponse, error_response, to_lambda_response
from shared.identity.authentication import authenticate
from shared.live.connections import LiveConnections
from shared.live.event_log import EventLog
from shared.live.fanout import LiveFanout, ManagementApiPoster, Poster, log_batch
from shared.plumbing import observability
from shared.plumbing.config import settings
from shared.plumbing.errors import SpooledError

logger = logging.getLogger("spooled.live")
OK = {"statusCode": 200}


@lru_cache(maxsize=1)
def registry() -> LiveConnections:
    return LiveConnections()


@lru_cache(maxsize=1)
def event_log() -> EventLog:
    return EventLog()


@lru_cache(maxsize=1)
def poster() -> Poster:
    return ManagementApiPoster(settings().ws_callback_url)


def _credentials(event: dict[str, Any]) -> dict[str, str]:
    """The REST API's authentication reads a Bearer header; browsers cannot set one on a WebSocket,
    so `?token=` (JWT or API key) or `?api_key=` stands in for it."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    query = event.get("queryStringParameters") or {}
    token = query.get("token") or query.get("api_key")
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def _connect(event: dict[str, Any], connection_id: str, request_id: str) -> dict[str, Any]:
    try:
        ctx = authenticate(_credentials(event))
        observability.bind(org_id=ctx.org_id)
        registry().connect(ctx, connection_id, event.get("queryStringParameters") or {})
    except SpooledError as error:
        # A non-2xx answer refuses the upgrade; the SDK then raises instead of reconnecting.
        return to_lambda_response(error_response(error), request_id)
    return OK


def _websocket(route: str, connection_id: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId") or str(uuid.uuid4())
    try:
        if route == "$connect":
            return _connect(event, connection_id, request_id)
        if route == "$disconnect":
            registry().disconnect(connection_id)
            return OK
        reply = registry().command(connection_id, event.get("body") or "")
        if reply is not None:
            poster().post(connection_id, reply.to_json())
        return OK
    except Exception:
        logger.exception("live route %s failed for connection %s", route, connection_id)
        body = {"code": "INTERNAL_ERROR", "message": "Internal server error"}
        return to_lambda_response(ApiResponse(500, body), request_id)


def handle_stream(records: list[dict[str, Any]]) -> None:
    try:
        target = poster()
    except RuntimeError:
        # Not configured (a deployment without the WebSocket API): failing would only make the
        # event source retry this batch for as long as the records live.
        # WebSocket clients only: server-sent events still read the event log.
        logger.warning(
            "WebSocket live updates are not configured; %d stream records not posted", len(records)
        )
        log_batch(event_log(), records)
        return
    result = LiveFanout(registry(), target, registry().clock, event_log()).deliver(records)
    if result.frames or result.closed:
        logger.info(
            "live fan-out: %d frames, %d posted, %d gone, %d closed, %d failed",
            result.frames,
            result.posted,
            result.gone,
            result.closed,
            result.failed,
        )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    observability.begin(context, request_context.get("requestId"))
    route, connection_id = request_context.get("routeKey"), request_context.get("connectionId")
    if route and connection_id:
        return _websocket(route, connection_id, event)
    records = [r for r in event.get("Records") or [] if r.get("eventSource") == "aws:dynamodb"]
    if records:
        observability.begin(context, records[0].get("eventID"))  # the batch's first record names it
        handle_stream(records)
    return {"batchItemFailures": []}
