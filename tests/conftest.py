"""Fixtures shared by every test layer.

- The AWS environment is set here, at import, so no test depends on the shell that runs pytest.
- `aws`: an in-process moto (`mock_aws`) holding the resources of shared/plumbing/schema.py, empty at the
  start of each test, with the service's cached settings and singletons reset (its boto3 clients
  are kept: see the fixture). It is the local stack's in-process moto (each call under the moto
  lock, moto_speedups on); the race tests run against local_stack.embedded_moto.EmbeddedMoto, a
  server, as before, with the same speedups (see tests/functional/jobs/conftest.py).
- `clock`: a FixedClock; with `api`, everything in the service reads "now" from it; tests move it.
- `org` / `other_org`: two seeded organizations with an unrestricted API key each.
- `api` / `other_api`: call the real API Lambda handler with an API Gateway HTTP API (v2) event,
  as the local gateway and AWS build it, authenticated as `org` / `other_org`.
- `drain_stream`: delivers the table's stream to the dispatcher, so the queue counters are fresh.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

# moto hooks botocore when imported: every client made after this import can be mocked.
import moto  # noqa: F401
import pytest

from tests import scheduling

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # boto3 1.44 otherwise sends DynamoDB Streams calls to an endpoint moto 5.2.5 does not know.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
os.environ.update(_AWS_ENV)
# A profile or endpoint from the shell would send the tests' calls somewhere else.
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

ADMIN_KEY = "test-admin-key-0123456789"
JWT_SECRET = "test-jwt-secret-not-for-production-0123456789"
SDK_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": "spooled-python/1.6.0",
}


def reset_process_caches(clients: bool = True) -> None:
    """Forget the lru_cache'd singletons of the service's modules and, with `clients`, every boto3
    client (needed when the AWS endpoint changes, e.g. to an EmbeddedMoto server and back).

    Walking the modules (rather than naming each singleton) keeps this right when a new routes
    module or store adds its own cached factory.
    """
    from shared.plumbing import aws_clients

    if clients:
        aws_clients.reset()
    for name, module in list(sys.modules.items()):
        if not (name.startswith("shared.") or name.startswith("functions.")) or module is None:
            continue
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_clear") and getattr(value, "__module__", "") == name:
                value.cache_clear()
    auth = sys.modules.get("shared.identity.authentication")
    if auth is not None and hasattr(auth, "_admin_key_cache"):
        auth._admin_key_cache.clear()


class _SetupClients:
    """What local_stack.resources.create_all needs of a boto3 Session, with each client made once:
    a new client costs ~40 ms (several times that for a new Session), and every test sets up."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._session: Any = None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session()
            self._clients[service] = self._session.client(service)
        return self._clients[service]


class _SharedMock:
    """One in-process moto per test module, emptied before and after each test.

    It is the local stack's (local_stack/inprocess_moto.py): mock_aws with each call under the moto
    lock and moto_speedups' exact shortcuts, which tests/functional/local_stack checks against
    moto's own answers. So the handlers meet the moto that `make dev` runs, at a fraction of plain
    moto's cost per call (its generic serializer alone was a third of it).

    Starting mock_aws registers thousands of URL callbacks (~0.2 s); emptying its backends is free.
    Tests that need real HTTP to an EmbeddedMoto server call `stop()`; the next `aws` fixture
    starts it again.
    """

    def __init__(self) -> None:
        self._mock: Any = None

    def fresh(self) -> None:
        from local_stack.inprocess_moto import InProcessMoto

        if self._mock is None:
            self._mock = InProcessMoto().start()
        else:
            self.empty()

    def empty(self) -> None:
        """Drop every resource; done after each test too, so a test that nests its own mock_aws
        (which does not reset while another is active) still starts from nothing."""
        from moto.core.base_backend import BackendDict

        BackendDict.reset()

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop(keep_data=False)
            self._mock = None

    def dynamodb_writes(self) -> int | None:
        """DynamoDB writes answered so far (the in-process moto rings a bell after each one, under
        the same lock): unchanged means no new stream records. None when the mock is not running
        (a test on a moto server)."""
        return self._mock.wakeups.writes if self._mock is not None else None


SETUP_CLIENTS = _SetupClients()
SHARED_MOCK = _SharedMock()

# Parallel runs (`make test`: pytest-xdist). Each worker is a process of its own (its own in-process
# moto, its own `python -m local_stack` for the e2e and browser packages, free ports); which tests
# must share a worker, and in what order the groups are dealt out, is tests/scheduling.py's.
_GROUP_TIMES = scheduling.GroupTimes()


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _last_group_times(config: pytest.Config) -> dict[str, Any]:
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    timed = cache.get(scheduling.CACHE_KEY, {}) if cache is not None else {}
    return timed if isinstance(timed, dict) else {}


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: no error when it is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") not in scheduling.GROUPED_MODES:
        return None  # e.g. --dist each: xdist's own
    return scheduling.make_scheduler(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _is_xdist_worker(config):  # in one process, the tests run in the written order
        scheduling.order_longest_first(items, _last_group_times(config))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _GROUP_TIMES.add(report)  # on the controller (xdist) or the one process: what each group took


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    cache = getattr(config, "cache", None)
    if cache is not None and not _is_xdist_worker(config) and _GROUP_TIMES.seconds:
        cache.set(scheduling.CACHE_KEY, _GROUP_TIMES.merged_into(_last_group_times(config)))


@pytest.fixture(scope="module", autouse=True)
def _stop_shared_mock_after_each_module() -> Iterator[None]:
    """A module that uses its own `with mock_aws()` must find no mock running: nested in ours, it
    would neither start empty nor wipe what it made on exit."""
    yield
    SHARED_MOCK.stop()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An empty in-process AWS with the product's resources; yields the functions' environment.

    The service's boto3 clients outlive a test on purpose: moto intercepts every client made after
    it was imported, and creating clients again costs ~0.1-0.2 s each (botocore re-reads its
    service models for every new Session). Only the state behind them is fresh per test.
    """
    from local_stack.resources import create_all
    from shared.plumbing import aws_clients

    for name in [n for n in os.environ if n.startswith("SPOOLED_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SPOOLED_ENV", "development")
    monkeypatch.setenv("SPOOLED_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("SPOOLED_JWT_SECRET", JWT_SECRET)
    if any(not _aws_endpoint(c) for c in list(getattr(aws_clients, "_clients", {}).values())):
        aws_clients.reset()  # made against an EmbeddedMoto server by an earlier test
    SHARED_MOCK.fresh()
    env = create_all(SETUP_CLIENTS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_process_caches(clients=False)
    yield env
    reset_process_caches(clients=False)
    SHARED_MOCK.empty()


def _aws_endpoint(client: Any) -> bool:
    return bool(client.meta.endpoint_url.endswith(".amazonaws.com"))


@pytest.fixture
def clock() -> Any:
    """The service's clock: real time at the start of the test (so keys and organizations seeded
    before it look current), then moved only by the test."""
    from shared.plumbing.clock import FixedClock, SystemClock

    return FixedClock(SystemClock().now_ms() // 1000 * 1000)


def install_clock(monkeypatch: pytest.MonkeyPatch, clock: Any) -> None:
    """Make the whole service read "now" from `clock`.

    Every store, registry and policy of the service defaults to a SystemClock, and there are many
    singletons (one per routes module, the dispatcher's); pointing SystemClock itself at the test
    clock reaches all of them, including ones added later, with no list to keep in sync.
    """
    import random

    from functions.api import routes_jobs
    from functions.dispatcher import handler as dispatcher
    from shared.plumbing.clock import SystemClock

    monkeypatch.setattr(SystemClock, "now_ms", lambda self: clock.now_ms())
    for store in (routes_jobs.service().store, dispatcher.store()):
        store.rng = random.Random(7)  # backoff jitter and claim spreading, reproducible


@dataclass(frozen=True)
class Org:
    id: str
    api_key: str
    api_key_id: str
    slug: str


def _seed_org(name: str, slug: str) -> Org:
    from shared.identity.credentials import mint_key
    from shared.identity.organizations import create_organization

    created = create_organization(name, slug, api_key=mint_key("development"))
    return Org(
        id=created.organization["id"],
        api_key=created.api_key["key"],
        api_key_id=created.api_key["id"],
        slug=slug,
    )


@pytest.fixture
def org(aws: dict[str, str]) -> Org:
    return _seed_org("Acme Corporation", "acme")


@pytest.fixture
def other_org(aws: dict[str, str]) -> Org:
    return _seed_org("Globex Corporation", "globex")


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None

    def __repr__(self) -> str:  # what pytest prints when an assertion on a response fails
        return f"ApiResponse({self.status}, {self.text[:500]!r})"


_UNSET: Any = object()


@dataclass
class ApiClient:
    """Calls functions.api.handler.handler the way API Gateway does, one synthetic event per call."""

    api_key: str | None
    default_headers: dict[str, str] = field(default_factory=lambda: dict(SDK_HEADERS))

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = _UNSET,
        body: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        api_key: str | None = _UNSET,
    ) -> ApiResponse:
        from functions.api.handler import handler
        from local_stack.gateway import event_from_request

        all_headers = dict(self.default_headers)
        key = self.api_key if api_key is _UNSET else api_key
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        all_headers.update(headers or {})
        if json_body is not _UNSET:
            raw = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        elif isinstance(body, str):
            raw = body.encode("utf-8")
        else:
            raw = body or b""
        target = path + ("?" + urlencode(params, doseq=True) if params else "")
        event = event_from_request(method, target, all_headers, raw, "127.0.0.1")
        result = handler(event, None)
        assert result.get("isBase64Encoded") is False
        return ApiResponse(
            status=result["statusCode"],
            headers={k.lower(): v for k, v in (result.get("headers") or {}).items()},
            text=result.get("body") or "",
        )

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = _UNSET, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, json_body=json_body, **kwargs)

    def put(self, path: str, json_body: Any = _UNSET, **kwargs: Any) -> ApiResponse:
        return self.request("PUT", path, json_body=json_body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(aws: dict[str, str], org: Org, clock: Any, monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    install_clock(monkeypatch, clock)
    return ApiClient(org.api_key)


@pytest.fixture
def other_api(api: ApiClient, other_org: Org) -> ApiClient:
    return ApiClient(other_org.api_key)


@pytest.fixture
def drain_stream(aws: dict[str, str]) -> Callable[[], int]:
    """Returns a function that feeds every new stream record to the dispatcher (as the event source
    mapping would) and returns how many it delivered."""
    from functions.dispatcher.handler import handle_stream
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    poller = StreamPoller(settings().table_name, handle_stream)

    def drain() -> int:
        total = 0
        while True:
            delivered = poller.poll_once()
            total += delivered
            if not delivered:
                return total

    return drain
