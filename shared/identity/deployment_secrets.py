"""Secrets of the deployment (admin key, metrics token, JWT signing secret).

make dev passes them as environment variables; on AWS the function gets the ARN of a Secrets
Manager secret and reads it on use, so no secret value sits in code, templates or env vars.

The admin key and the metrics token go through one helper, `rotating_secret`: Powertools
Parameters caches each value for SECRET_MAX_AGE_SECONDS, so a rotated value (a new
`put-secret-value`) is in use within that time in every container, with no redeploy and one
Secrets Manager call per container and secret per period.

The JWT signing secret is read once per container, on purpose: rotating it signs everybody out
(every token was signed with the old one), so it is a deliberate step that replaces the containers
of the API and live-updates functions (docs/deploy.md, "Rotating the secrets").
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Any

from shared.plumbing import aws_clients
from shared.plumbing.config import settings
from shared.plumbing.errors import ServiceUnavailable

# How long a container may keep using a rotated admin key or metrics token.
SECRET_MAX_AGE_SECONDS = 300


def _from_secrets_manager(arn: str) -> str:
    return str(aws_clients.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]).strip()


@lru_cache(maxsize=1)
def _provider() -> Any:
    from aws_lambda_powertools.utilities.parameters.base import BaseProvider

    class _SecretsManager(BaseProvider):  # type: ignore[misc]
        """Powertools' caching (max_age) over our own client: the one the tests and make dev point
        at moto, and the call tests/cdk/code_actions.py finds when it checks the role."""

        def _get(self, name: str, **sdk_options: Any) -> str:
            return _from_secrets_manager(name)

        def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
            # BaseProvider declares it abstract; nothing here reads secrets by path.
            raise NotImplementedError

    return _SecretsManager()


def rotating_secret(arn: str, max_age: int = SECRET_MAX_AGE_SECONDS) -> str:
    """A Secrets Manager secret's value, read again once it is older than max_age seconds."""
    return str(_provider().get(arn, max_age=max_age))


def clear_cache() -> None:
    """Forget every cached secret (tests; a container never needs to)."""
    _provider().clear_cache()


def admin_key() -> str | None:
    config = settings()
    if config.admin_key:
        return config.admin_key
    if config.admin_key_secret_arn:
        return rotating_secret(config.admin_key_secret_arn)
    return None


def metrics_token() -> str | None:
    config = settings()
    if config.metrics_token:
        return config.metrics_token
    if config.metrics_token_secret_arn:
        return rotating_secret(config.metrics_token_secret_arn)
    return None


@lru_cache(maxsize=1)
def jwt_secret() -> bytes:
    config = settings()
    if config.jwt_secret:
        return config.jwt_secret.encode("utf-8")
    if config.jwt_secret_arn:
        return _from_secrets_manager(config.jwt_secret_arn).encode("utf-8")
    if config.environment != "production":
        # Tests and ad-hoc local runs: tokens live as long as this process, which is all they need.
        return secrets.token_bytes(32)
    raise ServiceUnavailable("JWT authentication is not configured on this deployment")
