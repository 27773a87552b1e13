"""Who is calling: an API key, a JWT or the operator's admin key, resolved to an AuthContext.

The entry point every handler calls; it sits above API keys and sessions (JWTs), which build on
shared.identity.credentials, so nothing here is imported back by them.
"""

from __future__ import annotations

import hmac

from shared.identity import deployment_secrets, jwt_tokens
from shared.identity.credentials import AuthContext, bearer_token, hash_key
from shared.plumbing.clock import Clock, SystemClock
from shared.plumbing.config import settings
from shared.plumbing.errors import AccessDenied, Unauthorized


def authenticate_api_key(key: str, table: str | None = None, clock: Clock | None = None) -> AuthContext:
    table = table or settings().table_name
    from shared.identity.api_keys import cached_key_item, require_usable, touch_last_used

    item = cached_key_item(table, hash_key(key))
    if item is None:
        raise Unauthorized("Invalid API key")
    now_ms = (clock or SystemClock()).now_ms()

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
        from shared.identity.sessions import sessions

        return sessions().authenticate(token)
    # Any other bearer value is an API key: sp_live_/sp_test_ (minted here) and the legacy
    # sk_live_/sk_test_ alike; the lookup is by hash, so the prefix needs no special case.
    return authenticate_api_key(token)


def _admin_key() -> str | None:
    # Powertools Parameters with a max age: a rotated key is in use within minutes, no redeploy.
    return deployment_secrets.admin_key()


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
