"""The service's tables and queues on a fresh in-process moto (what `make dev` runs), with the
environment the handlers read, for tests that compare local_stack's shortcuts with what they
replace."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import pytest

from local_stack.inprocess_moto import InProcessMoto
from tests.conftest import ADMIN_KEY, JWT_SECRET, SHARED_MOCK, reset_process_caches


@contextlib.contextmanager
def inprocess_stack(
    monkeypatch: pytest.MonkeyPatch, patch: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """The tests' shared mock stopped, an in-process moto started with every resource created, and
    the SPOOLED_ settings pointing at it; everything undone afterwards. `patch` runs first, so
    what it wraps sees the set-up's calls too."""
    import boto3

    from local_stack.resources import create_all

    SHARED_MOCK.stop()
    moto = InProcessMoto().start()
    try:
        patch()
        for name in [n for n in os.environ if n.startswith("SPOOLED_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("SPOOLED_ADMIN_KEY", ADMIN_KEY)
        monkeypatch.setenv("SPOOLED_JWT_SECRET", JWT_SECRET)
        reset_process_caches()
        for name, value in create_all(boto3.session.Session()).items():
            monkeypatch.setenv(name, value)
        reset_process_caches()
        yield
    finally:
        monkeypatch.undo()
        reset_process_caches()
        moto.stop(keep_data=False)
