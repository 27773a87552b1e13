"""API Gateway HTTP API (payload v2) events in, Lambda proxy responses out.

This is the only place that turns a SpooledError into the contract's error body (§1.4).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from shared.plumbing.errors import SpooledError
from shared.plumbing.observability import correlation_id


@dataclass
class ApiRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]  # first value of each parameter
    body: bytes
    request_id: str
    source_ip: str = ""
    path_params: dict[str, str] = field(default_factory=dict)

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        """Invalid or missing values fall back to the default; valid ones are clamped (contract §2.4)."""
        try:
            value = int(self.query[name])
        except (KeyError, ValueError):
            return default
        return max(low, min(high, value))


@dataclass
class ApiResponse:
    status: int
    body: Any = None  # JSON-able; None with 204
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # a non-JSON body (health probes, metrics)


def request_from_event(event: dict[str, Any]) -> ApiRequest:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    raw_body = event.get("body") or ""
    body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8")
    http = event.get("requestContext", {}).get("http", {})
    return ApiRequest(
        method=http.get("method", "GET").upper(),
        path=event.get("rawPath") or http.get("path", "/"),
        headers=headers,
        query=dict(parse_qsl(event.get("rawQueryString") or "", keep_blank_values=True)),
        body=body,
        # The caller's X-Request-Id when it looks like an id, else API Gateway's request id: echoed
        # in the response and the correlation id of every log line of the request.
        request_id=correlation_id(
            headers.get("x-request-id"), event.get("requestContext", {}).get("requestId")
        ),
        source_ip=http.get("sourceIp", ""),
    )


def error_response(error: SpooledError) -> ApiResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    body.update(error.extra)
    headers = {}
    if "retry_after_secs" in error.extra:
        headers["Retry-After"] = str(error.extra["retry_after_secs"])
    return ApiResponse(error.status, body, headers)


def to_lambda_response(response: ApiResponse, request_id: str) -> dict[str, Any]:
    headers = {"X-Request-Id": request_id, **response.headers}
    if response.text is not None:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        body = response.text
    elif response.status == 204 or (response.body is None and response.status < 400):
        body = ""
    else:
        headers["Content-Type"] = "application/json"
        body = json.dumps(response.body, separators=(",", ":"), ensure_ascii=False)
    return {"statusCode": response.status, "headers": headers, "body": body, "isBase64Encoded": False}
