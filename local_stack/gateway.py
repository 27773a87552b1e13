"""A local stand-in for API Gateway's HTTP API: each request becomes a payload-v2 event for the
real API handler, in a thread of its own (as parallel Lambda containers would run it).

Every method goes to the handler, TRACE and made-up ones too, so the contract's JSON error (405 on
a known path) answers them rather than http.server's 501 HTML page.
"""

from __future__ import annotations

import base64
import re
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
_METHOD = re.compile(r"[A-Z][A-Z-]*")  # an HTTP method token, as http.server upper-cases none


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
        # Replies go out in one write, and with Nagle off a reply never waits for the client's
        # delayed ACK of an earlier segment (~40 ms per request on a kept-alive connection).
        disable_nagle_algorithm = True

        def __getattr__(self, name: str) -> Any:
            # http.server looks up do_<METHOD> and answers 501 HTML when it is missing.
            if name.startswith("do_") and _METHOD.fullmatch(name[3:]):
                return self._serve
            raise AttributeError(name)

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
            # Status line, headers and body in one write (send_response/end_headers write the head
            # on its own). What send_response adds, the Server and Date headers, is kept.
            reason = self.responses.get(status, ("",))[0]
            lines = [
                f"{self.protocol_version} {status} {reason}",
                f"Server: {self.version_string()}",
                f"Date: {self.date_time_string()}",
                *(f"{name}: {value}" for name, value in headers.items()),
                f"Content-Length: {len(data)}",
            ]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            self.wfile.write(head if self.command == "HEAD" else head + data)

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    return server
