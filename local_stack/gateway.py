"""A local stand-in for API Gateway's HTTP API: each request becomes a payload-v2 event for the
real API handler, in a thread of its own (as parallel Lambda containers would run it)."""

from __future__ import annotations

import base64
import sys
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from local_stack.websocket_gateway import LocalWebSockets

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def event_from_request(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    parts = urlsplit(target)
    is_text = True
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        is_text = False
        text = base64.b64encode(body).decode()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": parts.path or "/", "sourceIp": source_ip},
            "requestId": str(uuid.uuid4()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": text,
        "isBase64Encoded": not is_text,
    }


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: when more clients than that connect at once
    # (a worker pool, the race tests), the kernel drops their SYNs and each waits a 1 s retransmit.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up before its answer (a timeout, a stopped worker) is no server error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def make_server(
    host: str, port: int, handler: LambdaHandler, websockets: LocalWebSockets | None = None
) -> ThreadingHTTPServer:
    """websockets: the WebSocket API's two paths (/api/v1/ws, the management API) on this port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as SDK clients pool connections

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
            return

        def _serve(self) -> None:
            if websockets is not None and websockets.owns(self.path):
                websockets.serve(self)
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(
                    413,
                    {"Content-Type": "application/json"},
                    b'{"code":"PAYLOAD_TOO_LARGE","message":"Request body exceeds 10 MB"}',
                )
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            event = event_from_request(
                self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
            )
            result = handler(event, None)
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
            self._reply(result["statusCode"], result.get("headers") or {}, data)

        def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    return server
