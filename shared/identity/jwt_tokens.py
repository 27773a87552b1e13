"""HS256 JSON Web Tokens, as the Spooled reference issues them (contract §2.3). Pure functions.

Own code rather than PyJWT: HS256 is one HMAC over two base64url segments, the Lambda bundle stays
one dependency smaller, and the rules we need (only HS256, `alg: none` and every other algorithm
refused, exp/nbf checked against an injected clock) fit in this module and its table of tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

HEADER = {"alg": "HS256", "typ": "JWT"}
ACCESS = "access"
REFRESH = "refresh"
# A refresh token lives 7 days (the reference's 24 x 24 h was 24 days), and is rotated on use: each
# refresh answers with the next token of its family (shared/identity/sessions.py).
REFRESH_LIFETIME_SECONDS = 7 * 86_400
# Tolerated clock difference between the API functions that issue and check tokens.
LEEWAY_SECONDS = 5
# The longest token we issue is ~18 KB (a key scoped to 50 queues of 255 characters); anything
# longer is refused before it is read. Our header is 36 characters: a longer one is not ours, and
# refusing it unread means no nested JSON is ever parsed before the signature is checked.
MAX_TOKEN_CHARS = 20_000
MAX_HEADER_CHARS = 200


class InvalidToken(Exception):
    """The token is malformed, not signed with our secret, not yet valid or expired."""


@dataclass(frozen=True)
class Claims:
    sub: str
    org_id: str
    api_key_id: str
    queues: tuple[str, ...]
    token_type: str
    iat: int
    nbf: int
    exp: int
    jti: str
    # The session ("family") every token of one login belongs to, and a refresh token's place in
    # its rotation; absent from tokens issued before rotation existed.
    fam: str | None = None
    gen: int | None = None

    def as_dict(self) -> dict[str, Any]:
        optional = {
            name: value for name, value in (("fam", self.fam), ("gen", self.gen)) if value is not None
        }
        return {
            "sub": self.sub,
            "api_key_id": self.api_key_id,
            "org_id": self.org_id,
            "iat": self.iat,
            "exp": self.exp,
            "nbf": self.nbf,
            "jti": self.jti,
            "queues": list(self.queues),
            "token_type": self.token_type,
            **optional,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as error:
        raise InvalidToken("not base64url") from error


def _sign(signing_input: bytes, secret: bytes) -> str:
    return _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())


def new_claims(
    *,
    org_id: str,
    api_key_id: str,
    queues: list[str] | tuple[str, ...],
    token_type: str,
    now_s: int,
    lifetime_s: int,
    jti: str | None = None,
    fam: str | None = None,
    gen: int | None = None,
) -> Claims:
    return Claims(
        sub=org_id,
        org_id=org_id,
        api_key_id=api_key_id,
        queues=tuple(queues),
        token_type=token_type,
        iat=now_s,
        nbf=now_s,
        exp=now_s + lifetime_s,
        # A random id per token: logout blacklists exactly this token, not the key's others.
        jti=jti or str(uuid.uuid4()),
        fam=fam,
        gen=gen,
    )


def encode(claims: Claims, secret: bytes) -> str:
    header = _b64(json.dumps(HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims.as_dict(), separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    return f"{header}.{body}.{_sign(signing_input, secret)}"


def _claims_from(payload: dict[str, Any]) -> Claims:
    try:
        queues = payload.get("queues") or []
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            raise InvalidToken("queues must be a list of strings")
        fields = {name: payload[name] for name in ("sub", "org_id", "api_key_id", "token_type", "jti")}
        numbers = {name: payload[name] for name in ("iat", "nbf", "exp")}
    except KeyError as error:
        raise InvalidToken(f"missing claim {error}") from None
    if not all(isinstance(v, str) for v in fields.values()):
        raise InvalidToken("string claims must be strings")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers.values()):
        raise InvalidToken("time claims must be integers")
    fam, gen = payload.get("fam"), payload.get("gen")
    if fam is not None and not isinstance(fam, str):
        raise InvalidToken("fam must be a string")
    if gen is not None and (not isinstance(gen, int) or isinstance(gen, bool)):
        raise InvalidToken("gen must be an integer")
    return Claims(queues=tuple(queues), **fields, **numbers, fam=fam, gen=gen)


def decode(token: str, secret: bytes, now_s: int) -> Claims:
    """Verify the signature first, then the times; any doubt is InvalidToken, never another error
    (a malformed token is a 401 or {valid: false}, whatever it holds: issue 12, finding 4)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("not a token of ours")
    if not token.isascii():
        raise InvalidToken("a JWT is ASCII")  # base64url and dots only
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("a JWT has three segments")
    header_b64, body_b64, signature = parts
    if len(header_b64) > MAX_HEADER_CHARS:
        raise InvalidToken("header too long")
    try:
        header = json.loads(_unb64(header_b64))
    except (ValueError, RecursionError) as error:
        raise InvalidToken("header is not JSON") from error
    # Only our algorithm: accepting the header's choice is how `alg: none` forgeries work.
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unsupported algorithm")
    expected = _sign(f"{header_b64}.{body_b64}".encode("ascii"), secret)
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    try:
        payload = json.loads(_unb64(body_b64))
    except (ValueError, RecursionError) as error:
        raise InvalidToken("payload is not JSON") from error
    if not isinstance(payload, dict):
        raise InvalidToken("payload is not an object")
    claims = _claims_from(payload)
    if claims.nbf > now_s + LEEWAY_SECONDS:
        raise InvalidToken("not yet valid")
    if claims.exp <= now_s - LEEWAY_SECONDS:
        raise InvalidToken("expired")
    return claims


def looks_like_jwt(token: str) -> bool:
    # Contract §1.3: a bearer value starting with eyJ (base64 of '{"') is a JWT, anything else a key.
    return token.startswith("eyJ")
