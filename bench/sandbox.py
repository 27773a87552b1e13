"""An offline AWS for the benchmarks: moto in-process (single-threaded parts) or the embedded moto
server of the local stack (parts with concurrent claimers, where every call must be atomic).

The benchmark never talks to real AWS: it sets offline credentials itself and drops any profile
or endpoint the shell may carry.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.plumbing import schema

OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # boto3 1.44 otherwise sends DynamoDB Streams calls to an endpoint moto 5.2.5 does not know.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
_FOREIGN = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def offline_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) made safe: offline credentials, no SPOOLED_*."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if k not in _FOREIGN and not k.startswith("SPOOLED_")
    }
    env.update(OFFLINE_ENV)
    return env


def use_offline_environment() -> None:
    clean = offline_environment()
    for name in [n for n in os.environ if n not in clean]:
        del os.environ[name]
    os.environ.update(clean)


def reset_process_caches() -> None:
    """Forget boto3 clients and every lru_cache'd singleton of the service's modules (settings,
    stores, services), so the next call builds them against the current environment."""
    from shared.plumbing import aws_clients

    aws_clients.reset()
    for name, module in list(sys.modules.items()):
        if module is None or not (name.startswith("shared.") or name.startswith("functions.")):
            continue
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_clear") and getattr(value, "__module__", "") == name:
                value.cache_clear()


def _create_resources(extra_tables: tuple[schema.TableDefinition, ...]) -> None:
    import boto3

    from local_stack.resources import create_all, table_create_args

    session = boto3.session.Session()
    os.environ.update(create_all(session))
    for table in extra_tables:
        session.client("dynamodb").create_table(**table_create_args(table))
    reset_process_caches()


@contextmanager
def in_process_aws(
    extra_tables: tuple[schema.TableDefinition, ...] = (), fast: bool = False
) -> Iterator[None]:
    """moto in this process (fast; not thread-safe) with the product's resources. `fast`: with the
    local stack's exact shortcuts through moto's slowest code (local_stack/moto_speedups.py, the
    in-process moto `make dev` runs), for the parts that drive thousands of jobs."""
    from moto import mock_aws

    use_offline_environment()
    if fast:
        from local_stack.inprocess_moto import InProcessMoto

        moto = InProcessMoto().start()
        try:
            _create_resources(extra_tables)
            yield
        finally:
            reset_process_caches()
            moto.stop(keep_data=False)
        return
    with mock_aws():
        _create_resources(extra_tables)
        try:
            yield
        finally:
            reset_process_caches()


class EmbeddedAws:
    """The local stack's moto server, one lock per call, started in this process."""

    def __init__(self) -> None:
        from local_stack.embedded_moto import EmbeddedMoto

        self._moto = EmbeddedMoto()

    @property
    def endpoint(self) -> str:
        return self._moto.endpoint

    def start(self) -> None:
        self._moto.start()
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        _create_resources(())

    def stop(self) -> None:
        self._moto.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)
        reset_process_caches()

    def reset(self) -> None:
        """Empty every table (moto's queries scan, so each run starts small) and recreate them."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass
        _create_resources(())


@contextmanager
def embedded_aws() -> Iterator[EmbeddedAws]:
    use_offline_environment()
    aws = EmbeddedAws()
    aws.start()
    try:
        yield aws
    finally:
        aws.stop()


@dataclass(frozen=True)
class Tenant:
    org_id: str
    api_key: str


def seed_tenant(slug: str) -> Tenant:
    from shared.identity.credentials import mint_key
    from shared.identity.organizations import create_organization

    created = create_organization(f"Bench {slug}", slug, api_key=mint_key("development"))
    return Tenant(org_id=created.organization["id"], api_key=created.api_key["key"])
