"""The HTTP client of webhook deliveries against small servers on 127.0.0.1: what it sends, and how
it ends requests that take too long or go elsewhere."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.plumbing.url_safety import Target, check_url
from shared.webhooks.outgoing.http import post

Serve = Callable[[socket.socket], None]


@contextmanager
def server(serve: Serve) -> Iterator[int]:
    """A one-connection-at-a-time TCP server running `serve` on each accepted socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # closing a listener does not wake its accept(): poll for the stop
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                serve(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def target(port: int, path: str = "/in?x=1") -> Target:
    return check_url(f"http://127.0.0.1:{port}{path}", production=False, resolve=lambda h, p: ["127.0.0.1"])


def test_posts_the_body_and_headers_and_reads_the_answer() -> None:
    seen: list[bytes] = []

    def answer(conn: socket.socket) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthanks")

    with server(answer) as port:
        outcome = post(
            target(port), b'{"a":1}', {"X-Spooled-Event": "job.created", "Content-Type": "application/json"}
        )
    assert (outcome.status_code, outcome.response_body, outcome.error) == (202, "thank", None)
    request = seen[0].decode()
    assert request.startswith("POST /in?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n" in request
    assert "X-Spooled-Event: job.created\r\n" in request
    assert request.endswith('\r\n\r\n{"a":1}')


def test_a_redirect_is_an_answer_not_a_new_request() -> None:
    requests: list[bytes] = []

    def redirect(conn: socket.socket) -> None:
        requests.append(read_request(conn))
        conn.sendall(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\n"
            b"Content-Length: 0\r\n\r\n"
        )

    with server(redirect) as port:
        outcome = post(target(port), b"{}", {})
    assert outcome.status_code == 307 and len(requests) == 1


def test_the_request_timeout_bounds_the_whole_exchange_not_each_read() -> None:
    release = threading.Event()

    def drip(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        # A byte now and then keeps every single read under its timeout, forever.
        while not release.wait(0.05):
            try:
                conn.sendall(b"x")
            except OSError:
                return

    with server(drip) as port:
        outcome = post(target(port), b"{}", {}, timeout=0.5)
        release.set()
    assert (outcome.status_code, outcome.error) == (None, "Request timed out")


def test_a_receiver_that_never_answers_times_out() -> None:
    release = threading.Event()

    def silent(conn: socket.socket) -> None:
        read_request(conn)
        release.wait(5)

    with server(silent) as port:
        outcome = post(target(port), b"{}", {}, timeout=0.3)
        release.set()
    assert (outcome.status_code, outcome.error) == (None, "Request timed out")


def test_nobody_listening_is_a_failed_request() -> None:
    with server(lambda conn: None) as port:
        pass
    outcome = post(target(port), b"{}", {})
    assert outcome.status_code is None
    assert (outcome.error or "").startswith("Request failed: ConnectionRefusedError")


def test_https_verifies_the_certificate_of_the_named_host() -> None:
    def plain_http(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with server(plain_http) as port:
        https = check_url(f"https://localhost:{port}/", production=False, resolve=lambda h, p: ["127.0.0.1"])
        outcome = post(https, b"{}", {})
    assert outcome.status_code is None and outcome.error is not None  # no TLS, no delivery
