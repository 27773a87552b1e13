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

from local_stack.moto_lock import ATOMIC


class _AtomicApp:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = ATOMIC

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            # The body is produced inside the lock too: moto builds it from live backend state.
            return [b"".join(self.app(environ, start_response))]


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # one line per AWS call drowns the console


class EmbeddedMoto:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = _AtomicApp(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmbeddedMoto:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
