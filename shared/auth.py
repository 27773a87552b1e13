"""Who is calling: API keys (stored only as SHA-256 hashes, each bound to one organization).

API keys are 256 random bits, so a fast hash is as safe as bcrypt for them and costs no Lambda CPU;
the lookup is one consistent GetItem, so a revoked key fails on its very next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from shared import aws_clients, dynamo_codec, jwt_tokens
from shared import dynamo_expressions as ex
from shared.clock import Clock, SystemClock
from shared.config import settings
from shared.errors import AccessDenied, NotFound, Unauthorized


@dataclass(frozen=True)
class AuthContext:
    org_id: str
    api_key_id: str
    queues: tuple[str, ...] = field(default_factory=tuple)  # empty or "*" = every queue
    rate_limit: int | None = None
    token: jwt_tokens.Claims | None = None  # set when the caller authenticated with a JWT

    @property
    def unrestricted(self) -> bool:
        return not self.queues or "*" in self.queues

    def allows_queue(self, queue: str) -> bool:
        return self.unrestricted or queue in self.queues

    def require_queue(self, queue: str) -> None:
        """Writes to a queue outside the key's scope are refused (403)."""
        if not self.allows_queue(queue):
            raise AccessDenied("API key is not allowed to access this queue")

    def require_visible(self, queue: str) -> None:
        """Reads of resources outside the scope look like they do not exist (404)."""
        if not self.allows_queue(queue):
            raise NotFound()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def mint_key(environment: str | None = None) -> str:
    prefix = "sp_live_" if (environment or settings().environment) == "production" else "sp_test_"
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def bearer_token(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        token = value[7:].strip()
        return token or None
    return headers.get("x-api-key") or None


def authenticate_api_key(key: str, table: str | None = None, clock: Clock | None = None) -> AuthContext:
    table = table or settings().table_name
    found = aws_clients.client("dynamodb").get_item(
        TableName=table, Key=ex.api_key_key(hash_key(key)), ConsistentRead=True
    )
    if "Item" not in found:
        raise Unauthorized("Invalid API key")
    item = dynamo_codec.decode_item(found["Item"])
    now_ms = (clock or SystemClock()).now_ms()
    from shared.api_keys import require_usable, touch_last_used  # api_keys builds on this module

    require_usable(item, now_ms)
    touch_last_used(table, item, now_ms)
    return AuthContext(
        org_id=item["org_id"],
        api_key_id=item["id"],
        queues=tuple(item.get("queues") or ()),
        rate_limit=item.get("rate_limit"),
    )


def authenticate(headers: dict[str, str]) -> AuthContext:
    token = bearer_token(headers)
    if not token:
        raise Unauthorized("Missing API key: send Authorization: Bearer <key>")
    if jwt_tokens.looks_like_jwt(token):
        from shared.jwt_auth import sessions  # imported on first JWT only: API keys need none of it

        return sessions().authenticate(token)
    # Any other bearer value is an API key: sp_live_/sp_test_ (minted here) and the legacy
    # sk_live_/sk_test_ alike; the lookup is by hash, so the prefix needs no special case.
    return authenticate_api_key(token)


_admin_key_cache: list[str] = []


def _admin_key() -> str | None:
    config = settings()
    if config.admin_key:
        return config.admin_key
    if config.admin_key_secret_arn:
        if not _admin_key_cache:  # one Secrets Manager call per container
            secret = aws_clients.client("secretsmanager").get_secret_value(
                SecretId=config.admin_key_secret_arn
            )
            _admin_key_cache.append(secret["SecretString"].strip())
        return _admin_key_cache[0]
    return None


def require_admin(headers: dict[str, str]) -> None:
    expected = _admin_key()
    given = headers.get("x-admin-key")
    if not expected:
        raise AccessDenied("The admin API is disabled: no admin key is configured")
    if not given:
        raise Unauthorized("Missing X-Admin-Key")
    # Compare digests so the comparison time says nothing about the key.
    if not hmac.compare_digest(hash_key(given), hash_key(expected)):
        raise Unauthorized("Invalid admin key")


def api_key_item(
    *,
    org_id: str,
    key: str,
    key_id: str,
    name: str,
    now_ms: int,
    queues: list[str] | None = None,
    rate_limit: int | None = None,
    expires_at: int | None = None,
) -> dict[str, Any]:
    return {
        **{k: v["S"] for k, v in ex.api_key_key(hash_key(key)).items()},
        "id": key_id,
        "org_id": org_id,
        "name": name,
        "key_prefix": key[:8],
        "queues": queues or ["*"],
        "rate_limit": rate_limit,
        "is_active": True,
        "created_at": now_ms,
        "expires_at": expires_at,
        "org_pk": f"KEYS#{org_id}",
        "created_sk": ex.created_sk(now_ms, key_id),
    }
