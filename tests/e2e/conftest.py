"""End-to-end fixtures: the local stack started the way a user starts it, and SDK clients for it.

`python -m local_stack` runs as a subprocess (what `make dev` runs), once for all e2e tests. Its output
goes to a file; a failing e2e test gets the tail of that file in its report, and the teardown
checks the clean shutdown `make dev` promises (SIGTERM → exit 0 within seconds).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_API_KEY = "sp_test_e2e_0123456789abcdefghijklmnopqrstuvwxyzAB"
ADMIN_KEY = "admin_e2e_0123456789abcdef"
STARTUP_TIMEOUT_SECONDS = 60.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0
LOG_TAIL_LINES = 200

# Offline credentials, set here rather than inherited from whatever shell runs the tests.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}

# A 5xx from the local stack is a bug: surface it at once instead of letting the SDK retry it away
# (retries) or turn later calls into CircuitBreakerOpenError (breaker). test_errors.py checks the
# SDK defaults separately.
NO_RETRY = RetryConfig(max_retries=0)
NO_BREAKER = CircuitBreakerConfig(enabled=False)

INHERITED_PREFIXES_DROPPED = ("AWS_", "SPOOLED_", "QUEUE_DEFAULT_")

STACK_LOG = pytest.StashKey[Path]()


@dataclass(frozen=True)
class RunningStack:
    base_url: str
    api_key: str
    admin_key: str
    log_path: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output captured)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _health_answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _announced(log_path: Path, base_url: str) -> bool:
    try:
        return f"Spooled local stack on {base_url}" in log_path.read_text(errors="replace")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes], log_path: Path) -> None:
    if process.poll() is not None:
        pytest.fail(
            f"the local stack exited early with code {process.returncode}:\n{_tail(log_path)}",
            pytrace=False,
        )
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(
            f"the local stack did not stop within {SHUTDOWN_TIMEOUT_SECONDS:.0f} s of SIGTERM:\n"
            f"{_tail(log_path)}",
            pytrace=False,
        )
    if code != 0:
        pytest.fail(f"the local stack exited with code {code} on SIGTERM:\n{_tail(log_path)}", pytrace=False)


# Package scope: one stack for every e2e test, stopped as soon as the last of them is done, so an
# idle stack (its loops poll SQS and sweep timers several times a second) does not slow down the
# test layers that run after this one.
@pytest.fixture(scope="package")
def local_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("local_stack") / "output.log"
    # Nothing of the service's or AWS's configuration leaks in from the shell or from other tests
    # (an in-process LocalStack writes its endpoint and table names into os.environ).
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_PREFIXES_DROPPED)}
    env = {
        **inherited,
        **AWS_TEST_ENV,
        "PORT": str(port),
        "SPOOLED_DEV_API_KEY": DEV_API_KEY,
        "SPOOLED_ADMIN_KEY": ADMIN_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    request.config.stash[STACK_LOG] = log_path
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        # The banner proves the port is ours: were it taken meanwhile, /health could answer for
        # some other process while ours failed to bind.
        while not (_announced(log_path, base_url) and _health_answers(base_url)):
            if process.poll() is not None:
                pytest.fail(
                    f"the local stack exited with code {process.returncode} before answering "
                    f"GET /health:\n{_tail(log_path)}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the local stack did not announce {base_url} and answer GET /health within "
                    f"{STARTUP_TIMEOUT_SECONDS:.0f} s:\n{_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.1)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    yield RunningStack(base_url=base_url, api_key=DEV_API_KEY, admin_key=ADMIN_KEY, log_path=log_path)
    _stop(process, log_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    log_path = item.config.stash.get(STACK_LOG, None)
    if report.failed and log_path is not None:
        report.sections.append(("local stack output (tail)", _tail(log_path)))


ClientFactory = Callable[..., SpooledClient]


@pytest.fixture
def make_client(local_stack: RunningStack) -> Iterator[ClientFactory]:
    """SpooledClient(api_key=..., base_url=...) against the stack; closed after the test."""
    clients: list[SpooledClient] = []

    def make(api_key: str | None = None, **config: Any) -> SpooledClient:
        options: dict[str, Any] = {"retry": NO_RETRY, "circuit_breaker": NO_BREAKER, **config}
        client = SpooledClient(
            api_key=api_key or local_stack.api_key, base_url=local_stack.base_url, **options
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SpooledClient:
    return make_client()


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    """A queue of the test's own, so tests share the stack without seeing each other's jobs."""
    test = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:60]
    return f"e2e-{test}-{uuid.uuid4().hex[:8]}"
