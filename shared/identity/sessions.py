"""JWT sessions (contract §2.3): login, refresh, validate, me, logout, and authenticating a JWT.

A JWT is a short-lived stand-in for the API key it was issued for: every request made with one
re-reads that key (active, not expired, its current queues) and the token's blacklist entry, so
revoking the key or logging out takes effect on the very next request.

Every login starts a token family (RFAM#{family}). A refresh token is rotated on use: /auth/refresh
answers with the next generation of the family as `refresh_token`. Presenting a generation older
than one already presented is reuse (a copy in someone else's hands), and revokes the whole family:
every refresh and access token of the login, and its WebSocket connections (closed by the
live-updates function when the stream shows the revocation). Presenting the same generation again
is allowed, so a client that keeps its first refresh token (the SDK 1.6.0 does) goes on working
until another holder of the family rotates past it (issue 12, finding 5).
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from shared.identity import deployment_secrets, jwt_tokens
from shared.identity import expressions as ex
from shared.identity.api_keys import ApiKeyService, require_usable
from shared.identity.credentials import AuthContext, hash_key
from shared.identity.rate_limits import LOGIN_ATTEMPTS_PER_MINUTE, RateLimiter
from shared.plumbing import dynamo_codec, table_keys
from shared.plumbing.aws_clients import is_conditional_failure
from shared.plumbing.clock import Clock, to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.errors import Unauthorized
from shared.plumbing.table_service import TableService

INVALID = "Invalid token"
REVOKED = "Token has been revoked"


class JwtSessions(TableService):
    def __init__(self, table: str | None = None, clock: Clock | None = None) -> None:
        super().__init__(table, clock)
        self.keys = ApiKeyService(self.table, self.clock)
        self.limiter = RateLimiter(self.table, self.clock)

    def _now_s(self) -> int:
        return self.clock.now_ms() // 1000

    @property
    def access_lifetime_s(self) -> int:
        return settings().jwt_expiration_hours * 3600

    def _issue(
        self,
        key_item: dict[str, Any],
        token_type: str,
        lifetime_s: int,
        fam: str | None = None,
        gen: int | None = None,
    ) -> str:
        claims = jwt_tokens.new_claims(
            org_id=key_item["org_id"],
            api_key_id=key_item["id"],
            queues=list(key_item.get("queues") or ["*"]),
            token_type=token_type,
            now_s=self._now_s(),
            lifetime_s=lifetime_s,
            fam=fam,
            gen=gen,
        )
        return jwt_tokens.encode(claims, deployment_secrets.jwt_secret())

    def _decode(self, token: str) -> jwt_tokens.Claims:
        try:
            return jwt_tokens.decode(token, deployment_secrets.jwt_secret(), self._now_s())
        except jwt_tokens.InvalidToken:
            raise Unauthorized(INVALID) from None

    def _key_and_revocation(self, claims: jwt_tokens.Claims) -> tuple[dict[str, Any] | None, bool]:
        """One batch read: the token's blacklist entry and the pointer to its key; then the key."""
        keys = [ex.revoked_token_key(claims.jti), ex.api_key_pointer_key(claims.org_id, claims.api_key_id)]
        if claims.fam:
            keys.append(ex.token_family_key(claims.fam))
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        found: dict[str, dict[str, Any]] = {}
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(self.table, []):
                found[raw["pk"]["S"]] = raw
            request = response.get("UnprocessedKeys") or {}
        revoked = keys[0]["pk"]["S"] in found
        if claims.fam:
            family = found.get(keys[2]["pk"]["S"])
            revoked = revoked or family is None or "revoked_at" in family
        pointer = found.get(keys[1]["pk"]["S"])
        if pointer is None:
            return None, revoked
        return self.keys.load_by_hash(pointer["key_hash"]["S"], claims.org_id), revoked

    def _verified(self, token: str, token_type: str) -> tuple[jwt_tokens.Claims, dict[str, Any]]:
        claims = self._decode(token)
        if claims.token_type != token_type:
            raise Unauthorized(f"Expected an {token_type} token" if token_type == "access" else INVALID)
        key_item, revoked = self._key_and_revocation(claims)
        if revoked:
            raise Unauthorized(REVOKED)
        return claims, require_usable(key_item, self.clock.now_ms())

    # --- endpoints -----------------------------------------------------------------------

    def login(self, api_key: str) -> dict[str, Any]:
        key_hash = hash_key(api_key)
        # Counted before the key is looked at: guessing keys through login is as slow for a
        # wrong key as for a right one.
        self.limiter.require("login", key_hash, LOGIN_ATTEMPTS_PER_MINUTE)
        key_item = require_usable(self.keys.load_by_hash(key_hash), self.clock.now_ms())
        access = self.access_lifetime_s
        refresh = jwt_tokens.REFRESH_LIFETIME_SECONDS
        family = str(uuid.uuid4())
        self._db.put_item(
            **ex.create_token_family(
                self.table, family, key_item["org_id"], self._now_s() + refresh, self.clock.now_ms()
            )
        )
        return {
            "access_token": self._issue(key_item, jwt_tokens.ACCESS, access, fam=family),
            "refresh_token": self._issue(key_item, jwt_tokens.REFRESH, refresh, fam=family, gen=0),
            "token_type": "Bearer",
            "expires_in": access,
            "refresh_expires_in": refresh,
        }

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        claims, key_item = self._verified(refresh_token, jwt_tokens.REFRESH)
        access = self._issue(key_item, jwt_tokens.ACCESS, self.access_lifetime_s, fam=claims.fam)
        answer = {"access_token": access, "token_type": "Bearer", "expires_in": self.access_lifetime_s}
        if claims.fam is None or claims.gen is None:
            return answer  # issued before rotation: it runs out as it was
        # Rotation: the next generation of the family, unless this one was already superseded.
        lifetime = jwt_tokens.REFRESH_LIFETIME_SECONDS
        try:
            response = self._db.update_item(
                **ex.use_refresh_token(self.table, claims.fam, claims.gen, self._now_s() + lifetime)
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            # Reuse (or a family revoked a moment ago): the whole login ends, whoever holds it.
            self._revoke_family(claims.fam, "refresh token reused")
            raise Unauthorized(REVOKED) from None
        next_gen = int(response["Attributes"]["next_gen"]["N"])
        return {
            **answer,
            "refresh_token": self._issue(
                key_item, jwt_tokens.REFRESH, lifetime, fam=claims.fam, gen=next_gen
            ),
            "refresh_expires_in": lifetime,
        }

    def _revoke_family(self, family: str, reason: str) -> None:
        try:
            self._db.update_item(**ex.revoke_token_family(self.table, family, reason, self.clock.now_ms()))
        except Exception as error:
            if not is_conditional_failure(error):  # no such family: nothing to revoke
                raise

    def validate(self, token: str) -> dict[str, Any]:
        """Always a document, never an error: {valid, error?, claims?}."""
        try:
            claims = jwt_tokens.decode(token, deployment_secrets.jwt_secret(), self._now_s())
        except jwt_tokens.InvalidToken:
            return {"valid": False, "error": INVALID}
        key_item, revoked = self._key_and_revocation(claims)
        if revoked:
            return {"valid": False, "error": REVOKED}
        try:
            require_usable(key_item, self.clock.now_ms())
        except Unauthorized:
            return {"valid": False, "error": REVOKED}
        # The contract's claims; the family and generation stay inside the token.
        document = {k: v for k, v in claims.as_dict().items() if k not in ("fam", "gen")}
        return {"valid": True, "claims": document}

    def authenticate(self, token: str) -> AuthContext:
        claims, key_item = self._verified(token, jwt_tokens.ACCESS)
        return AuthContext(
            org_id=key_item["org_id"],
            api_key_id=key_item["id"],
            queues=tuple(key_item.get("queues") or ()),
            rate_limit=key_item.get("rate_limit"),
            token=claims,
        )

    def me(self, ctx: AuthContext) -> dict[str, Any]:
        if ctx.token is None:
            raise Unauthorized("GET /auth/me needs a JWT access token (POST /auth/login)")
        found = self._db.get_item(
            TableName=self.table, Key=table_keys.org_key(ctx.org_id), ConsistentRead=True
        )
        org = dynamo_codec.decode_item(found["Item"]) if "Item" in found else None
        return {
            "organization_id": ctx.org_id,
            "api_key_id": ctx.api_key_id,
            "queues": list(ctx.queues) or ["*"],
            "issued_at": to_rfc3339(ctx.token.iat * 1000),
            "expires_at": to_rfc3339(ctx.token.exp * 1000),
            "organization": (
                {
                    "id": org["id"],
                    "name": org["name"],
                    "slug": org["slug"],
                    "plan_tier": org.get("plan_tier", "enterprise"),
                    "billing_email": org.get("billing_email"),
                }
                if org
                else None
            ),
        }

    def logout(self, ctx: AuthContext, refresh_token: str | None) -> None:
        """Blacklist the access token of this request and the refresh token in the body."""
        now_ms = self.clock.now_ms()
        if ctx.token is not None:
            self._db.put_item(**ex.revoke_token(self.table, ctx.token.jti, ctx.token.exp, now_ms))
            if ctx.token.fam:  # the whole login ends: its refresh tokens and live connections too
                self._revoke_family(ctx.token.fam, "logout")
        if refresh_token:
            try:
                claims = jwt_tokens.decode(refresh_token, deployment_secrets.jwt_secret(), self._now_s())
            except jwt_tokens.InvalidToken:
                return  # an invalid refresh token can never be used anyway
            # Only this organization's tokens: a token from elsewhere is not the caller's to revoke.
            if claims.org_id == ctx.org_id:
                self._db.put_item(**ex.revoke_token(self.table, claims.jti, claims.exp, now_ms))
                if claims.fam:
                    self._revoke_family(claims.fam, "logout")


@lru_cache(maxsize=1)
def sessions() -> JwtSessions:
    return JwtSessions()
