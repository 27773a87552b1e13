"""Who is calling: API keys (stored only as SHA-256 hashes, each bound to one organization).

API keys are 256 random bits, so a fast hash is as safe as bcrypt for them and costs no Lambda CPU;
the lookup is one consistent GetItem, so a revoked key fails on its very next request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from shared.identity import expressions as ex
from shared.identity import jwt_tokens
from shared.plumbing import table_keys
from shared.plumbing.config import settings
from shared.plumbing.errors import AccessDenied, NotFound


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
        "created_sk": table_keys.created_sk(now_ms, key_id),
    }
