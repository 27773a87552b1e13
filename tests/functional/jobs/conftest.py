"""What the job tests with many threads share: a moto server behind one lock per request
(local_stack.embedded_moto), since in-process moto is not thread-safe.

The server runs with moto_speedups (the exact shortcuts the in-process moto of the other tests and
of `make dev` has): the flow-control race registers a worker per claim, and plain moto sorts the
whole table for every Query, so that test took 4-5 minutes under load instead of under one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import SHARED_MOCK, reset_process_caches


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import boto3

    from local_stack.embedded_moto import EmbeddedMoto
    from local_stack.resources import create_all

    SHARED_MOCK.stop()  # the in-process mock must not stand between the clients and the server
    SHARED_MOCK.empty()  # the embedded server shares moto's in-process backends with earlier tests
    server = EmbeddedMoto(speedups=True).start()
    try:
        for name in [n for n in os.environ if n.startswith("SPOOLED_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        reset_process_caches()
        for name, value in create_all(boto3.session.Session()).items():
            monkeypatch.setenv(name, value)
        reset_process_caches()
        yield server.endpoint
    finally:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        reset_process_caches()
        server.stop()
        SHARED_MOCK.empty()
