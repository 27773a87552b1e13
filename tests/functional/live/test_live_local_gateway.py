"""The local stand-in for API Gateway's WebSocket API: route events in, and the management API that the
fan-out reaches with the real boto3 client (as on AWS), with a recording handler in place of the
live-updates function."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets.sync.client as ws_client
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus

from local_stack.gateway import make_server
from local_stack.websocket_gateway import MANAGEMENT_PATH, MAX_MESSAGE_BYTES, LocalWebSockets
from tests.e2e.sdk_helpers import wait_until


@dataclass
class RecordingHandler:
    events: list[dict[str, Any]] = field(default_factory=list)
    refuse_with: dict[str, Any] | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        if event["requestContext"]["routeKey"] == "$connect" and self.refuse_with:
            return self.refuse_with
        return {"statusCode": 200}

    def routes(self) -> list[str]:
        return [e["requestContext"]["routeKey"] for e in self.events]

    def connection_id(self) -> str:
        return str(self.events[0]["requestContext"]["connectionId"])


@dataclass
class Gateway:
    handler: RecordingHandler
    ws_url: str
    management: Any  # boto3 apigatewaymanagementapi client


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    import boto3

    handler = RecordingHandler()
    sockets = LocalWebSockets(handler)
    server = make_server("127.0.0.1", 0, lambda event, context: {"statusCode": 404}, sockets)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    management = boto3.session.Session().client(
        "apigatewaymanagementapi",
        endpoint_url=f"http://127.0.0.1:{port}{MANAGEMENT_PATH}",
        region_name="us-east-1",
    )
    yield Gateway(handler, f"ws://127.0.0.1:{port}/api/v1/ws", management)
    sockets.close_all()
    server.shutdown()
    server.server_close()


def test_a_session_becomes_connect_default_and_disconnect_events(gateway: Gateway) -> None:
    with ws_client.connect(f"{gateway.ws_url}?token=abc&queue=emails") as socket:
        socket.send(json.dumps({"cmd": "subscribe", "queue": "emails"}))
        wait_until(lambda: "$default" in gateway.handler.routes(), "the $default event")
    wait_until(lambda: "$disconnect" in gateway.handler.routes(), "the $disconnect event")
    connect, default, disconnect = gateway.handler.events
    assert connect["queryStringParameters"] == {"token": "abc", "queue": "emails"}
    assert connect["requestContext"]["eventType"] == "CONNECT"
    assert json.loads(default["body"]) == {"cmd": "subscribe", "queue": "emails"}
    ids = {e["requestContext"]["connectionId"] for e in (connect, default, disconnect)}
    assert len(ids) == 1


def test_a_refused_connect_is_the_handlers_status_and_json_body(gateway: Gateway) -> None:
    body = {"code": "UNAUTHORIZED", "message": "Invalid API key"}
    gateway.handler.refuse_with = {
        "statusCode": 401,
        "headers": {"X-Request-Id": "r1"},
        "body": json.dumps(body),
    }
    with pytest.raises(InvalidStatus) as refused:
        ws_client.connect(f"{gateway.ws_url}?token=bad")
    assert refused.value.response.status_code == 401
    assert json.loads(bytes(refused.value.response.body)) == body
    assert gateway.handler.routes() == ["$connect"]  # no $disconnect for a connection never made


def test_the_management_api_posts_and_closes_through_boto3(gateway: Gateway) -> None:
    with ws_client.connect(gateway.ws_url) as socket:
        wait_until(lambda: gateway.handler.events, "the $connect event")
        connection_id = gateway.handler.connection_id()
        gateway.management.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"Ping","data":{}}')
        assert json.loads(socket.recv(timeout=10)) == {"type": "Ping", "data": {}}
        info = gateway.management.get_connection(ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"

        with pytest.raises(ClientError) as too_large:
            gateway.management.post_to_connection(
                ConnectionId=connection_id, Data=b"x" * (MAX_MESSAGE_BYTES + 1)
            )
        assert too_large.value.response["Error"]["Code"] == "PayloadTooLargeException"

        gateway.management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=10)
    wait_until(lambda: "$disconnect" in gateway.handler.routes(), "the $disconnect event")
    with pytest.raises(ClientError) as gone:
        gateway.management.post_to_connection(ConnectionId=connection_id, Data=b"{}")
    assert gone.value.response["Error"]["Code"] == "GoneException"


def test_a_plain_request_to_the_websocket_path_is_a_json_400(gateway: Gateway) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(gateway.ws_url.replace("ws://", "http://"), timeout=10)
    assert refused.value.code in (400, 426)
    assert json.loads(refused.value.read())["code"] == "BAD_REQUEST"
    assert gateway.handler.events == []


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE"])
def test_another_method_on_the_websocket_path_is_a_json_400_not_a_dropped_connection(
    gateway: Gateway, method: str
) -> None:
    """Found by the fuzzer (docs/reliability.md): the handshake parser had already closed its side,
    so sending the refusal raised and the client saw the connection drop without an answer."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(gateway.ws_url.replace("ws://", "http://"), data=b"{}", method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert 400 <= refused.value.code < 500
    assert json.loads(refused.value.read())["code"] == "BAD_REQUEST"
    assert gateway.handler.events == []
