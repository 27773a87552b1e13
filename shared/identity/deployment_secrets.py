"""Secrets of the deployment (JWT signing secret, metrics token), resolved once per container.

make dev passes them as environment variables; on AWS the function gets the ARN of a Secrets
Manager secret and reads it on first use, so no secret value sits in code, templates or env vars.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from shared.plumbing import aws_clients
from shared.plumbing.config import settings
from shared.plumbing.errors import ServiceUnavailable


def _from_secrets_manager(arn: str) -> str:
    return str(aws_clients.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]).strip()


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


@lru_cache(maxsize=1)
def metrics_token() -> str | None:
    config = settings()
    if config.metrics_token:
        return config.metrics_token
    if config.metrics_token_secret_arn:
        return _from_secrets_manager(config.metrics_token_secret_arn)
    return None
