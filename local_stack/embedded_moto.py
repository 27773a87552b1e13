"""moto as a local AWS endpoint, with each AWS call made atomic.

On AWS a conditional write is atomic. moto's backends are not thread-safe: two threads can both
pass the same condition check. The gateway runs handlers in threads the way Lambda runs them in
parallel containers, so one lock around each moto request restores the guarantee the claim
relies on; without it, the race tests would measure moto, not our code. The lock is
moto_lock.ATOMIC, shared with the in-process moto (inprocess_moto.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local_stack import moto_speedups
from local_stack.moto_lock import ATOMIC


class _AtomicApp:
    def __init__(self, app: Callable[..., Iterable[bytes]], speedups: bool = False) -> None:
        self.app = app
        self.lock = ATOMIC
        self.speedups = speedups

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            # The body is produced inside the lock too: moto builds it from live backend state.
            body = b"".join(self.app(environ, start_response))
            if self.speedups:
                # Still under the lock, as in inprocess_moto.py: the query buckets of
                # moto_speedups are dropped after every call that may have written. Calls to other
                # services (SQS's target is "AmazonSQS.<action>") count as writes: only safer.
                target = environ.get("HTTP_X_AMZ_TARGET", "")
                moto_speedups.dynamodb_called(target.rpartition(".")[2])
            return [body]


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # one line per AWS call drowns the console


class EmbeddedMoto:
    """`speedups`: moto_speedups.py's exact shortcuts, as the in-process moto of `make dev` and the
    functional tests has them (installed for this process while the server runs). The threaded
    job tests (tests/functional/jobs/conftest.py) start it so: their tables grow by the thousand
    items and plain moto sorts a whole table for every Query. The lock around each call, and so
    the atomicity of every conditional write, is the same either way."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, speedups: bool = False) -> None:
        self._speedups = speedups
        app = _AtomicApp(DomainDispatcherApplication(create_backend_app), speedups)
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmbeddedMoto:
        if self._speedups:
            moto_speedups.install()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        if self._speedups:
            moto_speedups.uninstall()
