"""Fixtures of the account tests (keys, auth, organizations, queues, operations, admin).

These tests share one in-process moto per module (`account_aws`) instead of a fresh one per test:
building the table with its five indexes dominates a test's time, and every test here works in
organizations of its own (`tenant`, `other_tenant`, unique slugs), so they cannot see each other's
data. The few views across organizations (admin lists, /metrics) are asserted with "contains".
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, ApiClient, Org, install_clock, reset_process_caches


@pytest.fixture(scope="module")
def account_aws() -> Iterator[dict[str, str]]:
    import boto3
    from moto import mock_aws

    from local_stack.resources import create_all

    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("SPOOLED_")]:
            patch.delenv(name)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.setenv("SPOOLED_ENV", "development")
        patch.setenv("SPOOLED_ADMIN_KEY", ADMIN_KEY)
        with mock_aws():
            env = create_all(boto3.session.Session())
            for name, value in env.items():
                patch.setenv(name, value)
            reset_process_caches()
            yield env
            reset_process_caches()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set environment settings for one test; cached settings and singletons are rebuilt then, and
    again after the test (only when the test used it: new boto3 clients cost ~0.1 s each)."""
    used: list[bool] = []

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        used.append(True)
        reset_process_caches()

    yield apply
    if used:
        monkeypatch.undo()
        reset_process_caches()


def seed_org(name: str = "Tenant") -> Org:
    from shared.identity.credentials import mint_key
    from shared.identity.organizations import create_organization

    slug = f"t-{uuid.uuid4().hex[:12]}"
    created = create_organization(f"{name} {slug}", slug, api_key=mint_key("development"))
    return Org(created.organization["id"], created.api_key["key"], created.api_key["id"], slug)


@pytest.fixture
def tenant(account_aws: dict[str, str]) -> Org:
    return seed_org("Acme")


@pytest.fixture
def other_tenant(account_aws: dict[str, str]) -> Org:
    return seed_org("Globex")


@pytest.fixture
def tenant_api(
    tenant: Org, clock: Any, configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> ApiClient:
    install_clock(monkeypatch, clock)  # every service's SystemClock reads the test's clock
    return ApiClient(tenant.api_key)


@pytest.fixture
def other_api(tenant_api: ApiClient, other_tenant: Org) -> ApiClient:
    return ApiClient(other_tenant.api_key)


@pytest.fixture(scope="module")
def _stream_poller(account_aws: dict[str, str]) -> Any:
    from functions.dispatcher.handler import handle_stream
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    # One poller per module: each delivers every record once, as the event source mapping does.
    return StreamPoller(settings().table_name, lambda records: handle_stream(records))


@pytest.fixture
def drain(_stream_poller: Any) -> Callable[[], int]:
    def run() -> int:
        total = 0
        while delivered := _stream_poller.poll_once():
            total += delivered
        return total

    return run
