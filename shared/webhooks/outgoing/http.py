"""One HTTP POST to a checked webhook target, with the standard library only.

httpx is a dev dependency, not part of the Lambda bundle, and urllib follows redirects; http.client
does neither. The connection goes to an address url_safety checked (never a fresh DNS answer), with
TLS verified against the URL's host name: 5 s to connect, then 10 s for the whole request and
answer, no redirects, and at most 64 KiB of the answer read.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from functools import lru_cache

from shared.plumbing.url_safety import Target
from shared.webhooks.outgoing.policy import HttpOutcome

CONNECT_TIMEOUT_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _connect(target: Target, connect_timeout: float, timeout: float) -> socket.socket:
    last: OSError | None = None
    for address in target.addresses:
        try:
            sock = socket.create_connection((address, target.port), timeout=connect_timeout)
        except OSError as error:
            last = error
            continue
        if target.scheme == "https":
            try:
                sock = _tls().wrap_socket(sock, server_hostname=target.host)  # handshake: connect time
            except OSError:
                sock.close()
                raise
        sock.settimeout(timeout)
        return sock
    raise last or OSError("no address to connect to")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection whose socket is made by `_connect`, never by a DNS lookup."""

    def __init__(self, target: Target, connect_timeout: float, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        self.sock = _connect(self._target, self._connect_timeout, float(self.timeout or 0) or 10.0)


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> HttpOutcome:
    started = time.monotonic()
    connection = _PinnedConnection(target, connect_timeout, timeout)
    expired = threading.Event()
    watchdog: threading.Timer | None = None
    try:
        connection.connect()
        # `timeout` bounds the whole exchange, not each read: a receiver that answers a byte every
        # few seconds is cut off when the time is up.
        watchdog = threading.Timer(timeout, _abort, (connection.sock, expired))
        watchdog.daemon = True
        watchdog.start()
        connection.putrequest("POST", target.request_target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", target.host_header)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        raw = response.read(MAX_RESPONSE_BYTES)
        if expired.is_set():
            raise TimeoutError
        return HttpOutcome(response.status, raw.decode("utf-8", "replace"), None, _since(started))
    except TimeoutError:
        return HttpOutcome(None, None, "Request timed out", _since(started))
    except ssl.SSLError as error:
        return HttpOutcome(None, None, f"TLS error: {error.reason or error}", _since(started))
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set():
            return HttpOutcome(None, None, "Request timed out", _since(started))
        return HttpOutcome(None, None, f"Request failed: {type(error).__name__}: {error}", _since(started))
    finally:
        if watchdog is not None:
            watchdog.cancel()
        connection.close()


def _abort(sock: socket.socket | None, expired: threading.Event) -> None:
    expired.set()
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
