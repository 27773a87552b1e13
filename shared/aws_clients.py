"""boto3 clients, created on first use and then reused for the life of the process.

Creating a client costs 50-80 ms, so a Lambda only pays for the clients its code path touches.
The local stack points them at the embedded moto through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:  # botocore client creation is not thread-safe; the local gateway runs threads
        if service not in _clients:
            import boto3
            from botocore.config import Config

            _clients[service] = boto3.session.Session().client(
                service, config=Config(retries={"max_attempts": 4, "mode": "standard"})
            )
        return _clients[service]


def reset() -> None:
    """Forget every client (tests switch between moto backends)."""
    with _lock:
        _clients.clear()
