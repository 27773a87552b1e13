"""JWT sessions (contract §2.3): login, refresh, validate, me, logout, and JWT-authenticated calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from shared.identity import jwt_tokens
from tests.conftest import ApiClient, Org
from tests.functional.identity.support import create_key, error_code


def _login(api: ApiClient, key: str) -> dict[str, Any]:
    response = api.post("/api/v1/auth/login", {"api_key": key}, api_key=None)
    assert response.status == 200, response
    return dict(response.json)


def test_login_me_refresh_logout(tenant_api: ApiClient, tenant: Org) -> None:
    tokens = _login(tenant_api, tenant.api_key)
    assert tokens["token_type"] == "Bearer"
    # Shorter than the reference's 24 h / 24 days (issue 12, finding 5).
    assert tokens["expires_in"] == 3_600 and tokens["refresh_expires_in"] == 7 * 86_400
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert access.startswith("eyJ") and access != refresh

    me = tenant_api.get("/api/v1/auth/me", api_key=access)
    assert me.status == 200, me
    assert me.json["organization_id"] == tenant.id and me.json["api_key_id"] == tenant.api_key_id
    assert me.json["queues"] == ["*"] and me.json["organization"]["slug"] == tenant.slug
    # Every other endpoint takes the access token as well.
    assert tenant_api.get("/api/v1/jobs", api_key=access).status == 200

    refreshed = tenant_api.post("/api/v1/auth/refresh", {"refresh_token": refresh}, api_key=None)
    assert refreshed.status == 200, refreshed
    # Rotated: the next refresh token of the same login comes with the access token.
    assert refreshed.json["refresh_token"] != refresh and refreshed.json["refresh_expires_in"] == 7 * 86_400
    new_access = refreshed.json["access_token"]
    assert tenant_api.get("/api/v1/auth/me", api_key=new_access).status == 200

    logout = tenant_api.post("/api/v1/auth/logout", {"refresh_token": refresh}, api_key=access)
    assert logout.status == 204 and logout.text == ""
    after = tenant_api.get("/api/v1/auth/me", api_key=access)
    assert after.status == 401 and after.json["message"] == "Token has been revoked"
    assert tenant_api.post("/api/v1/auth/refresh", {"refresh_token": refresh}, api_key=None).status == 401
    # Logout ends the whole login: the token refreshed before it, and the rotated refresh token.
    assert tenant_api.get("/api/v1/auth/me", api_key=new_access).status == 401
    rotated = refreshed.json["refresh_token"]
    assert tenant_api.post("/api/v1/auth/refresh", {"refresh_token": rotated}, api_key=None).status == 401


def test_a_reused_refresh_token_revokes_the_whole_login(tenant_api: ApiClient, tenant: Org) -> None:
    """Issue 12, finding 5: refresh tokens were never rotated, and a copied one went unnoticed."""
    tokens = _login(tenant_api, tenant.api_key)
    first = tokens["refresh_token"]

    def refresh(token: str) -> Any:
        return tenant_api.post("/api/v1/auth/refresh", {"refresh_token": token}, api_key=None)

    # A client that keeps its first refresh token (the SDK 1.6.0 does) can use it again...
    assert refresh(first).status == 200
    again = refresh(first)
    assert again.status == 200
    # ...until someone moves the login on with a rotated token: then the old one is a copy.
    second = again.json["refresh_token"]
    moved_on = refresh(second)
    assert moved_on.status == 200
    reused = refresh(first)
    assert reused.status == 401 and reused.json["message"] == "Token has been revoked"
    # Everything of that login is revoked: the newest refresh token and every access token.
    assert refresh(moved_on.json["refresh_token"]).status == 401
    for access in (tokens["access_token"], moved_on.json["access_token"]):
        assert tenant_api.get("/api/v1/auth/me", api_key=access).status == 401
    valid = tenant_api.post("/api/v1/auth/validate", {"token": tokens["access_token"]}, api_key=None)
    assert valid.json == {"valid": False, "error": "Token has been revoked"}
    # Another login of the same key is not affected.
    assert (
        tenant_api.get("/api/v1/auth/me", api_key=_login(tenant_api, tenant.api_key)["access_token"]).status
        == 200
    )


def test_logout_without_a_body_revokes_the_access_token(tenant_api: ApiClient, tenant: Org) -> None:
    access = _login(tenant_api, tenant.api_key)["access_token"]
    assert tenant_api.request("POST", "/api/v1/auth/logout", api_key=access).status == 204
    assert tenant_api.get("/api/v1/jobs", api_key=access).status == 401


def test_me_needs_an_access_token(tenant_api: ApiClient, tenant: Org) -> None:
    tokens = _login(tenant_api, tenant.api_key)
    assert tenant_api.get("/api/v1/auth/me").status == 401  # an API key
    assert tenant_api.get("/api/v1/auth/me", api_key=tokens["refresh_token"]).status == 401
    wrong_way = tenant_api.post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["access_token"]}, api_key=None
    )
    assert wrong_way.status == 401


def test_a_token_follows_its_key(tenant_api: ApiClient) -> None:
    created = create_key(tenant_api, queues=["emails", "sms"])
    tokens = _login(tenant_api, created["key"])
    access = tokens["access_token"]
    body = {"queue_name": "sms", "payload": {}}
    assert tenant_api.post("/api/v1/jobs", body, api_key=access).status == 201
    # Narrowing the key's scope applies to tokens already issued (re-read on every request).
    tenant_api.put(f"/api/v1/api-keys/{created['id']}", {"queues": ["emails"]})
    assert tenant_api.post("/api/v1/jobs", body, api_key=access).status == 403
    assert tenant_api.get("/api/v1/auth/me", api_key=access).json["queues"] == ["emails"]
    # Revoking the key ends its tokens at once.
    tenant_api.delete(f"/api/v1/api-keys/{created['id']}")
    assert tenant_api.get("/api/v1/jobs", api_key=access).status == 401
    refused = tenant_api.post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, api_key=None
    )
    assert refused.status == 401
    validated = tenant_api.post("/api/v1/auth/validate", {"token": access}, api_key=None)
    assert validated.status == 200 and validated.json == {"valid": False, "error": "Token has been revoked"}


def test_validate(tenant_api: ApiClient, tenant: Org) -> None:
    access = _login(tenant_api, tenant.api_key)["access_token"]
    valid = tenant_api.post("/api/v1/auth/validate", {"token": access}, api_key=None)
    assert valid.status == 200 and valid.json["valid"] is True
    claims = valid.json["claims"]
    assert claims["org_id"] == claims["sub"] == tenant.id and claims["token_type"] == "access"
    assert set(claims) == {"sub", "api_key_id", "org_id", "iat", "exp", "nbf", "jti", "queues", "token_type"}
    for token in ("nonsense", access[:-4] + "AAAA", ""):
        invalid = tenant_api.post("/api/v1/auth/validate", {"token": token}, api_key=None)
        assert invalid.status == 200 and invalid.json == {"valid": False, "error": "Invalid token"}, token


def test_tokens_expire(tenant_api: ApiClient, tenant: Org, clock: Any) -> None:
    tokens = _login(tenant_api, tenant.api_key)
    clock.advance(24 * 3600 + 60)
    assert tenant_api.get("/api/v1/auth/me", api_key=tokens["access_token"]).status == 401
    refreshed = tenant_api.post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, api_key=None
    )
    assert refreshed.status == 200  # the refresh token lives 24 times as long
    assert tenant_api.get("/api/v1/auth/me", api_key=refreshed.json["access_token"]).status == 200


def test_login_errors_and_attempt_limit(tenant_api: ApiClient, tenant: Org) -> None:
    assert tenant_api.post("/api/v1/auth/login", {"api_key": "short"}, api_key=None).status == 400
    assert tenant_api.post("/api/v1/auth/login", {}, api_key=None).status == 422
    wrong = "sp_test_" + "x" * 43
    for _ in range(5):
        refused = tenant_api.post("/api/v1/auth/login", {"api_key": wrong}, api_key=None)
        assert refused.status == 401 and error_code(refused) == "UNAUTHORIZED"
    limited = tenant_api.post("/api/v1/auth/login", {"api_key": wrong}, api_key=None)
    assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
    # The limit is per key tried: the right key still logs in.
    assert tenant_api.post("/api/v1/auth/login", {"api_key": tenant.api_key}, api_key=None).status == 200


def test_a_forged_token_is_refused(tenant_api: ApiClient, tenant: Org) -> None:
    claims = jwt_tokens.new_claims(
        org_id=tenant.id,
        api_key_id=tenant.api_key_id,
        queues=["*"],
        token_type="access",
        now_s=int(time.time()),
        lifetime_s=3600,
    )
    forged = jwt_tokens.encode(claims, b"a guess at the secret")
    refused = tenant_api.get("/api/v1/jobs", api_key=forged)
    assert refused.status == 401 and refused.json["message"] == "Invalid token"


def test_production_without_a_secret_refuses_tokens_without_a_5xx_for_api_keys(
    tenant_api: ApiClient, tenant: Org, configure: Callable[..., None]
) -> None:
    configure(SPOOLED_ENV="production")
    refused = ApiClient(None).post("/api/v1/auth/login", {"api_key": tenant.api_key})
    assert refused.status == 503 and error_code(refused) == "SERVICE_UNAVAILABLE"
    assert ApiClient(tenant.api_key).get("/api/v1/jobs").status == 200


def test_the_secret_comes_from_secrets_manager_on_aws(
    tenant_api: ApiClient, tenant: Org, configure: Callable[..., None]
) -> None:
    secret = "from-secrets-manager-0123456789"
    arn = boto3.client("secretsmanager").create_secret(Name=f"jwt-{tenant.slug}", SecretString=secret)["ARN"]
    configure(SPOOLED_ENV="production", SPOOLED_JWT_SECRET_ARN=arn)
    access = ApiClient(None).post("/api/v1/auth/login", {"api_key": tenant.api_key}).json["access_token"]
    now_s = int(time.time())
    assert jwt_tokens.decode(access, secret.encode(), now_s).org_id == tenant.id
    assert ApiClient(access).get("/api/v1/auth/me").status == 200


MALFORMED = (
    "eyJhbGciOiJIUzI1NiJ9.e30.sïgnature",  # non-ASCII signature
    "eyJhbGciOiJIUzI1NiJ9.ëyJ9.c2ln",  # non-ASCII body
    "eyJ" + "W1tb" * 2000 + ".e30.c2ln",  # a header nested thousands deep
    "eyJ" + "A" * 25_000 + ".e30.c2ln",  # over the length cap
)


def test_malformed_tokens_are_401_or_invalid_never_500(tenant_api: ApiClient) -> None:
    """Issue 12, finding 4: each of these answered 500 before any authentication."""
    for token in MALFORMED:
        refreshed = tenant_api.post("/api/v1/auth/refresh", {"refresh_token": token}, api_key=None)
        assert refreshed.status == 401 and error_code(refreshed) == "UNAUTHORIZED", (token[:40], refreshed)
        validated = tenant_api.post("/api/v1/auth/validate", {"token": token}, api_key=None)
        assert validated.status == 200, (token[:40], validated)
        assert validated.json == {"valid": False, "error": "Invalid token"}
        listed = tenant_api.get("/api/v1/jobs", api_key=token)
        assert listed.status == 401, (token[:40], listed)
