"""The admin key and the metrics token come from Secrets Manager through one helper with a max age
(Powertools Parameters): a rotated value is in use once the cached one is older than that, with no
redeploy. The JWT signing key keeps its read-once rule (docs/operations.md, Secrets)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from datetime import timedelta

import boto3
import freezegun

from shared.identity import deployment_secrets
from tests.conftest import ApiClient, Org

# freezegun swaps datetime and time for fakes in every loaded module while it runs, and a module
# first imported meanwhile (the API imports its routes' dependencies lazily) keeps the fakes for
# good: pydantic models then refuse FakeDatetime and SSE windows never time out, in whatever test
# this worker runs next. So every module of the product is imported before any freeze, and the
# freeze leaves our modules alone: only Powertools' cache, which the tests are about, sees it.
for _package in ("shared", "functions"):
    for _module in pkgutil.walk_packages(importlib.import_module(_package).__path__, f"{_package}."):
        importlib.import_module(_module.name)
_OURS = ["shared", "functions", "local_stack", "tests", "pydantic", "boto3", "botocore", "moto"]
# Its lazy __getattr__ would build pydantic models while freezegun lists module attributes.
_OURS.append("aws_lambda_powertools.utilities.parser")


def freeze_time(**kwargs: object) -> freezegun.api._freeze_time:  # type: ignore[name-defined]
    return freezegun.freeze_time(ignore=_OURS, **kwargs)  # type: ignore[arg-type]

STATS = "/api/v1/admin/stats"


def _secret(name: str, value: str) -> str:
    return str(boto3.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"])


def _rotate(arn: str, value: str) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)


def test_a_rotated_admin_key_is_used_after_the_max_age_without_a_redeploy(
    tenant_api: ApiClient, tenant: Org, configure: Callable[..., None]
) -> None:
    arn = _secret("admin-key-rotation", "admin-old-0123456789abcdef\n")
    configure(SPOOLED_ADMIN_KEY="", SPOOLED_ADMIN_KEY_SECRET_ARN=arn)

    def status(key: str) -> int:
        return ApiClient(None).get(STATS, headers={"X-Admin-Key": key}).status

    with freeze_time(auto_tick_seconds=0) as frozen:
        assert status("admin-old-0123456789abcdef") == 200  # read, stripped, cached
        _rotate(arn, "admin-new-0123456789abcdef")
        frozen.tick(timedelta(seconds=deployment_secrets.SECRET_MAX_AGE_SECONDS - 10))
        assert status("admin-old-0123456789abcdef") == 200  # still the cached value
        frozen.tick(timedelta(seconds=20))
        assert status("admin-new-0123456789abcdef") == 200
        assert status("admin-old-0123456789abcdef") == 401


def test_the_metrics_token_rotates_the_same_way(configure: Callable[..., None], tenant: Org) -> None:
    arn = _secret("metrics-token-rotation", "token-one")
    configure(SPOOLED_METRICS_TOKEN_SECRET_ARN=arn)
    with freeze_time(auto_tick_seconds=0) as frozen:
        assert deployment_secrets.metrics_token() == "token-one"
        _rotate(arn, "token-two")
        assert deployment_secrets.metrics_token() == "token-one"
        frozen.tick(timedelta(seconds=deployment_secrets.SECRET_MAX_AGE_SECONDS + 1))
        assert deployment_secrets.metrics_token() == "token-two"


def test_the_jwt_key_is_read_once_per_container(configure: Callable[..., None], tenant: Org) -> None:
    arn = _secret("jwt-rotation", "jwt-key-one-0123456789abcdef0123")
    configure(SPOOLED_ENV="production", SPOOLED_JWT_SECRET="", SPOOLED_JWT_SECRET_ARN=arn)
    first = deployment_secrets.jwt_secret()
    _rotate(arn, "jwt-key-two-0123456789abcdef0123")
    with freeze_time(auto_tick_seconds=0) as frozen:
        frozen.tick(timedelta(days=1))
        assert deployment_secrets.jwt_secret() == first  # rotating it is a deliberate step
