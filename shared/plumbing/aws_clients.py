"""boto3 clients, created on first use and then reused for the life of the process.

Creating a client costs 50-80 ms, so a Lambda only pays for the clients its code path touches.
The local stack points them at the embedded moto through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str, endpoint_url: str | None = None) -> Any:
    """endpoint_url: for services reached at a deployment's own address (the WebSocket API's
    management endpoint); each address gets a client of its own."""
    name = f"{service}@{endpoint_url}" if endpoint_url else service
    found = _clients.get(name)
    if found is not None:
        return found
    with _lock:  # botocore client creation is not thread-safe; the local gateway runs threads
        if name not in _clients:
            import boto3
            from botocore.config import Config

            _clients[name] = boto3.session.Session().client(
                service,
                endpoint_url=endpoint_url,
                config=Config(retries={"max_attempts": 4, "mode": "standard"}),
            )
        return _clients[name]


def reset() -> None:
    """Forget every client (tests switch between moto backends)."""
    with _lock:
        _clients.clear()


def error_code(error: BaseException) -> str | None:
    return getattr(error, "response", {}).get("Error", {}).get("Code")


def is_conditional_failure(error: BaseException) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"
