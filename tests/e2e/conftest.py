"""End-to-end fixtures: the local stack started the way a user starts it, and SDK clients for it.

`python -m local_stack` runs as a subprocess (what `make dev` runs), once for all e2e tests. Its output
goes to a file; a failing e2e test gets the tail of that file in its report, and the teardown
checks the clean shutdown `make dev` promises (SIGTERM → exit 0 within seconds).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient

from local_stack.subprocess_runner import LocalStackProcess, StackStartError, tail

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_API_KEY = "sp_test_e2e_0123456789abcdefghijklmnopqrstuvwxyzAB"
ADMIN_KEY = "admin_e2e_0123456789abcdef"
STARTUP_TIMEOUT_SECONDS = 60.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0

# A 5xx from the local stack is a bug: surface it at once instead of letting the SDK retry it away
# (retries) or turn later calls into CircuitBreakerOpenError (breaker). test_errors.py checks the
# SDK defaults separately.
NO_RETRY = RetryConfig(max_retries=0)
NO_BREAKER = CircuitBreakerConfig(enabled=False)

STACK_LOG = pytest.StashKey[Path]()

# What a key or token minted by the service looks like (API keys, JWTs): whichever test made it,
# none may appear in the stack's output.
TOKEN_SHAPES = (
    re.compile(r"\bs[pk]_(?:live|test)_[A-Za-z0-9]{20,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
)


def secrets_in(text: str, known: list[str]) -> list[str]:
    """The known secrets, and anything shaped like a key or token, found in `text` (shortened)."""
    found = [secret[:12] + "..." for secret in known if secret and secret in text]
    for shape in TOKEN_SHAPES:
        found += [match[:12] + "..." for match in shape.findall(text)]
    return found


@dataclass(frozen=True)
class RunningStack:
    base_url: str
    api_key: str
    admin_key: str
    log_path: Path


# Package scope: one stack for every e2e test, stopped as soon as the last of them is done, so an
# idle stack (its loops poll SQS and sweep timers several times a second) does not slow down the
# test layers that run after this one.
@pytest.fixture(scope="package")
def local_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    log_path = tmp_path_factory.mktemp("local_stack") / "output.log"
    stack = LocalStackProcess(
        log_path,
        {
            "SPOOLED_DEV_API_KEY": DEV_API_KEY,
            "SPOOLED_ADMIN_KEY": ADMIN_KEY,
            # Every e2e test shares the development organization and one client address: the
            # default per-organization limit (3,000/min) would make their bursts wait on 429s.
            "SPOOLED_ORG_RATE_LIMIT_PER_MINUTE": "100000",
        },
        startup_seconds=STARTUP_TIMEOUT_SECONDS,
    )
    request.config.stash[STACK_LOG] = log_path
    try:
        stack.start()
    except StackStartError as error:
        pytest.fail(str(error), pytrace=False)
    yield RunningStack(base_url=stack.base_url, api_key=DEV_API_KEY, admin_key=ADMIN_KEY, log_path=log_path)
    if not stack.running:
        pytest.fail(f"the local stack exited early:\n{tail(log_path)}", pytrace=False)
    code = stack.stop(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    if code is None:
        pytest.fail(
            f"the local stack did not stop within {SHUTDOWN_TIMEOUT_SECONDS:.0f} s of SIGTERM:\n"
            f"{tail(log_path)}",
            pytrace=False,
        )
    if code != 0:
        pytest.fail(f"the local stack exited with code {code} on SIGTERM:\n{tail(log_path)}", pytrace=False)
    # Every e2e test's requests went through this stack: its whole output holds no key or token.
    leaked = secrets_in(log_path.read_text(errors="replace"), [DEV_API_KEY, ADMIN_KEY])
    if leaked:
        pytest.fail(f"keys or tokens in the local stack's output: {sorted(set(leaked))}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    log_path = item.config.stash.get(STACK_LOG, None)
    if report.failed and log_path is not None:
        report.sections.append(("local stack output (tail)", tail(log_path)))


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
