"""A local stand-in for API Gateway's WebSocket API, on the same host:port as the HTTP gateway.

- `GET /api/v1/ws` with `Upgrade: websocket`: the handshake becomes a `$connect` event for the live
  handler (functions/live_updates/handler.py); a non-2xx answer refuses the upgrade with that status
  and body, as API Gateway does. Each text message becomes a `$default` event, the close a
  `$disconnect` event.
- `POST|GET|DELETE /_ws_management/@connections/{id}`: the management API the fan-out calls with
  boto3 (`endpoint_url` = SPOOLED_WS_CALLBACK_URL), answering 410 GoneException for an unknown
  connection. Only 127.0.0.1 may call it.

The WebSocket protocol is the `websockets` package's sans-I/O ServerProtocol: this module only
moves bytes between it and the socket the HTTP server already accepted, one thread per connection
(that thread is the HTTP server's request thread).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.datastructures import Headers
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

logger = logging.getLogger("spooled.local.ws")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
WS_PATH = "/api/v1/ws"
MANAGEMENT_PATH = "/_ws_management"
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's message limit, both directions
IDLE_TIMEOUT_SECONDS = 600  # API Gateway closes a connection idle for 10 minutes
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Connection:
    def __init__(
        self, connection_id: str, sock: socket.socket, protocol: ServerProtocol, source_ip: str
    ) -> None:
        self.id = connection_id
        self.sock = sock
        self.protocol = protocol
        self.source_ip = source_ip
        self.connected_at = time.time()
        self.last_active = self.connected_at
        # One writer at a time: the connection's own thread (handshake, pongs, close) and the
        # management API's threads (posts) share the protocol object and the socket.
        self.lock = threading.Lock()

    def flush(self) -> None:
        """Write what the protocol has queued; call with the lock held."""
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)
            else:  # SEND_EOF: half-close, the client then closes its side
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)

    def send_text(self, data: bytes) -> bool:
        with self.lock:
            if self.protocol.state is not State.OPEN:
                return False
            self.protocol.send_text(data)
            self.flush()
            return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        with self.lock:
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(code, reason)
                with contextlib.suppress(OSError):
                    self.flush()


class LocalWebSockets:
    """The connections of this gateway, and what serves the two paths above."""

    def __init__(self, handler: LambdaHandler) -> None:
        self.handler = handler
        self._connections: dict[str, _Connection] = {}
        self._lock = threading.Lock()
        self._stopping = False

    @staticmethod
    def owns(path: str) -> bool:
        route = urlsplit(path).path
        return route == WS_PATH or route.startswith(MANAGEMENT_PATH + "/")

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        if urlsplit(request.path).path == WS_PATH:
            request.close_connection = True  # the socket is the WebSocket's (or closed) from here on
            self._serve_upgrade(request)
        else:
            self._serve_management(request)

    def close_all(self) -> None:
        """Stop: close every connection (1001, going away) without $disconnect events."""
        self._stopping = True
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            connection.close(1001, "server stopping")
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    # --- the WebSocket side ----------------------------------------------------------------

    def _event(
        self, route: str, connection: _Connection, request: BaseHTTPRequestHandler | None
    ) -> dict[str, Any]:
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        context = {
            "routeKey": route,
            "eventType": event_type,
            "connectionId": connection.id,
            "requestId": str(uuid.uuid4()),
            "connectedAt": int(connection.connected_at * 1000),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": connection.source_ip},
            "stage": "local",
            "apiId": "local",
        }
        event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
        if request is not None:
            headers = {k.lower(): v for k, v in request.headers.items()}
            query = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
            event.update(headers=headers, queryStringParameters=query or None)
            context["domainName"] = headers.get("host", "")
        return event

    def _invoke(self, route: str, connection: _Connection, **fields: Any) -> dict[str, Any]:
        event = self._event(route, connection, fields.pop("request", None))
        event.update(fields)
        try:
            return self.handler(event, None) or {}
        except Exception:  # a Lambda error: API Gateway answers 500 / drops the message
            logger.exception("live handler failed on %s", route)
            return {"statusCode": 500}

    def _serve_upgrade(self, request: BaseHTTPRequestHandler) -> None:
        protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES)
        # The HTTP server has parsed the request already; the protocol reads it again from bytes,
        # which also moves its parser on to WebSocket frames.
        lines = [request.requestline, *(f"{name}: {value}" for name, value in request.headers.items())]
        protocol.receive_data(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        parsed = protocol.events_received()
        handshake = (
            protocol.accept(parsed[0])
            if parsed and isinstance(parsed[0], Request)
            else Response(400, "Bad Request", Headers(), b"Malformed WebSocket handshake")
        )
        connection = _Connection(
            "L" + uuid.uuid4().hex[:14] + "=", request.connection, protocol, request.client_address[0]
        )
        if handshake.status_code != 101:
            message = handshake.body.decode("utf-8", "replace").strip() or "Not a WebSocket handshake"
            # A request the parser refused (another method than GET, ...) has closed the protocol's
            # side already: answer through a fresh one, or the client sees the connection dropped.
            connection.protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES)
            self._refuse(connection, handshake.status_code, {}, {"code": "BAD_REQUEST", "message": message})
            return
        with connection.lock:
            # Registered before $connect and held locked until the 101 is out: a frame posted in
            # between waits instead of finding the connection unknown (and deleting it as gone).
            with self._lock:
                self._connections[connection.id] = connection
            answer = self._invoke("$connect", connection, request=request)
            status = int(answer.get("statusCode") or 500)
            if not 200 <= status < 300:
                with self._lock:
                    self._connections.pop(connection.id, None)
                try:
                    body = json.loads(answer.get("body") or "null")
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    body = {"code": "FORBIDDEN", "message": "Connection refused"}
                self._refuse(connection, status, answer.get("headers") or {}, body, locked=True)
                return
            protocol.send_response(handshake)
            connection.flush()
        try:
            self._receive_loop(connection, request)
        finally:
            with self._lock:
                self._connections.pop(connection.id, None)
            if not self._stopping:
                self._invoke("$disconnect", connection)

    def _refuse(
        self,
        connection: _Connection,
        status: int,
        headers: dict[str, str],
        body: dict[str, Any],
        locked: bool = False,
    ) -> None:
        data = json.dumps(body).encode("utf-8")
        response_headers = Headers()
        for name, value in headers.items():
            if name.lower() not in ("content-length", "content-type", "connection"):
                response_headers[name] = value
        response_headers["Content-Type"] = "application/json"
        response_headers["Content-Length"] = str(len(data))
        response_headers["Connection"] = "close"
        reason = _REASONS.get(status, "Error")
        connection.protocol.send_response(Response(status, reason, response_headers, data))
        if locked:
            connection.flush()
        else:
            with connection.lock:
                connection.flush()

    def _receive_loop(self, connection: _Connection, request: BaseHTTPRequestHandler) -> None:
        connection.sock.settimeout(IDLE_TIMEOUT_SECONDS)
        reader = request.rfile
        while True:
            try:
                # read1: whatever has arrived (at least a byte), including what the HTTP parser
                # buffered beyond the handshake's headers.
                data = reader.read1(65536)  # type: ignore[attr-defined]
            except TimeoutError:
                connection.close(1001, "Going away: idle timeout")
                return
            except OSError:
                return
            with connection.lock:
                if data:
                    connection.protocol.receive_data(data)
                else:
                    connection.protocol.receive_eof()
                frames = connection.protocol.events_received()
                try:
                    connection.flush()  # pongs, the close handshake
                except OSError:
                    return
            connection.last_active = time.time()
            for frame in frames:
                if frame.opcode is Opcode.TEXT:
                    self._invoke("$default", connection, body=frame.data.decode("utf-8", "replace"))
            if not data or connection.protocol.state is State.CLOSED:
                return

    # --- the management API ------------------------------------------------------------------

    def _serve_management(self, request: BaseHTTPRequestHandler) -> None:
        if request.client_address[0] != "127.0.0.1":
            self._reply(request, 403, {"message": "Forbidden"})
            return
        path = urlsplit(request.path).path
        prefix = MANAGEMENT_PATH + "/@connections/"
        if not path.startswith(prefix):
            self._reply(request, 404, {"message": "Not Found"})
            return
        connection_id = unquote(path[len(prefix) :])
        length = int(request.headers.get("Content-Length") or 0)
        data = request.rfile.read(length) if length else b""
        with self._lock:
            connection = self._connections.get(connection_id)
        if connection is None:
            self._reply(request, 410, {"message": "Gone"}, error_type="GoneException")
            return
        if request.command == "POST":
            if len(data) > MAX_MESSAGE_BYTES:
                self._reply(
                    request, 413, {"message": "Message too long"}, error_type="PayloadTooLargeException"
                )
            elif connection.send_text(data):
                self._reply(request, 200, None)
            else:
                self._reply(request, 410, {"message": "Gone"}, error_type="GoneException")
        elif request.command == "DELETE":
            connection.close(1000, "")
            self._reply(request, 204, None)
        elif request.command == "GET":
            info = {
                "connectedAt": _iso(connection.connected_at),
                "lastActiveAt": _iso(connection.last_active),
                "identity": {"sourceIp": connection.source_ip},
            }
            self._reply(request, 200, info)
        else:
            self._reply(request, 405, {"message": "Method Not Allowed"})

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, body: Any, error_type: str | None = None
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        if error_type:
            request.send_header("x-amzn-ErrorType", error_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
