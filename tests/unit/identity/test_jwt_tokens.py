"""HS256 tokens: what verifies and what is refused (shared/identity/jwt_tokens.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

import pytest

from shared.identity import jwt_tokens as jwt

SECRET = b"unit-test-secret-0123456789"
NOW = 1_800_000_000


def _claims(**overrides: object) -> jwt.Claims:
    claims = jwt.new_claims(
        org_id="org-1",
        api_key_id="key-1",
        queues=["emails"],
        token_type=jwt.ACCESS,
        now_s=NOW,
        lifetime_s=3600,
    )
    return jwt.Claims(**{**claims.as_dict(), "queues": tuple(claims.queues), **overrides})  # type: ignore[arg-type]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, object], payload: dict[str, object], secret: bytes = SECRET) -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(payload).encode())
    signature = _b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{signature}"


def test_a_token_round_trips_with_every_claim() -> None:
    claims = _claims()
    decoded = jwt.decode(jwt.encode(claims, SECRET), SECRET, NOW + 10)
    assert decoded == claims
    assert decoded.as_dict()["queues"] == ["emails"]


def test_each_token_gets_its_own_jti() -> None:
    a = jwt.new_claims(org_id="o", api_key_id="k", queues=[], token_type=jwt.ACCESS, now_s=NOW, lifetime_s=60)
    b = jwt.new_claims(org_id="o", api_key_id="k", queues=[], token_type=jwt.ACCESS, now_s=NOW, lifetime_s=60)
    assert a.jti != b.jti


def _tamper_payload(token: str) -> str:
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["org_id"] = "someone-else"
    return f"{head}.{_b64(json.dumps(payload).encode())}.{signature}"


GOOD = jwt.encode(_claims(), SECRET)
PAYLOAD = _claims().as_dict()


@pytest.mark.parametrize(
    ("name", "token", "now"),
    [
        ("expired", jwt.encode(_claims(exp=NOW - 100), SECRET), NOW),
        ("expires exactly at leeway edge", jwt.encode(_claims(exp=NOW), SECRET), NOW + jwt.LEEWAY_SECONDS),
        ("not valid yet", jwt.encode(_claims(nbf=NOW + 600), SECRET), NOW),
        ("signed with another secret", jwt.encode(_claims(), b"another-secret"), NOW),
        ("payload changed after signing", _tamper_payload(GOOD), NOW),
        ("alg none", _forge({"alg": "none", "typ": "JWT"}, PAYLOAD), NOW),
        ("alg HS512", _forge({"alg": "HS512", "typ": "JWT"}, PAYLOAD), NOW),
        ("two segments", ".".join(GOOD.split(".")[:2]), NOW),
        ("signature missing", GOOD.rsplit(".", 1)[0] + ".", NOW),
        ("header not JSON", "bm90LWpzb24." + GOOD.split(".", 1)[1], NOW),
        ("claim missing", _forge(jwt.HEADER, {k: v for k, v in PAYLOAD.items() if k != "jti"}), NOW),
        ("queues not a list", _forge(jwt.HEADER, {**PAYLOAD, "queues": "emails"}), NOW),
        ("exp not an integer", _forge(jwt.HEADER, {**PAYLOAD, "exp": "tomorrow"}), NOW),
        ("payload not an object", _forge(jwt.HEADER, ["a"]), NOW),  # type: ignore[arg-type]
        ("empty string", "", NOW),
    ],
)
def test_refused_tokens(name: str, token: str, now: int) -> None:
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(token, SECRET, now)


@pytest.mark.parametrize(
    ("description", "now"),
    [
        ("issued a moment ago", NOW + 1),
        ("clock of the checker slightly behind the issuer", NOW - jwt.LEEWAY_SECONDS),
        ("one second before expiry", NOW + 3599),
    ],
)
def test_accepted_times(description: str, now: int) -> None:
    assert jwt.decode(GOOD, SECRET, now).org_id == "org-1"


@pytest.mark.parametrize(
    ("value", "is_jwt"),
    [(GOOD, True), ("sp_live_abc", False), ("sk_test_abc", False), ("eyJ", True), ("", False)],
)
def test_bearer_values_starting_with_eyJ_are_jwts(value: str, is_jwt: bool) -> None:
    check: Callable[[str], bool] = jwt.looks_like_jwt
    assert check(value) is is_jwt


def _malformed_tokens() -> dict[str, str]:
    """Issue 12, finding 4: tokens that raised something other than InvalidToken (a 500)."""
    good = jwt.encode(_claims(), SECRET)
    head, body, signature = good.split(".")
    nested_header = _b64(b"[" * 5000 + b"]" * 5000)
    return {
        "non-ASCII signature": f"{head}.{body}.{signature[:-1]}é",
        "non-ASCII body": f"{head}.{body}é.{signature}",
        "non-ASCII header": f"é{head}.{body}.{signature}",
        "deeply nested header": f"{nested_header}.{body}.{signature}",
        "deeply nested header, short": f"{_b64(b'[' * 150)}.{body}.{signature}",
        "over-long token": f"{head}.{body}{'A' * 20_000}.{signature}",
        "header not UTF-8": f"{_b64(bytes([0xFF, 0xFE]))}.{body}.{signature}",
    }


@pytest.mark.parametrize("name", sorted(_malformed_tokens()))
def test_every_malformed_token_is_an_invalid_token(name: str) -> None:
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(_malformed_tokens()[name], SECRET, NOW)


def test_a_deeply_nested_payload_behind_a_valid_signature_is_an_invalid_token() -> None:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(b"[" * 5000 + b"]" * 5000)
    signature = _b64(hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(f"{head}.{body}.{signature}", SECRET, NOW)
