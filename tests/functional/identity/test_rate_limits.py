"""Request rate limits (contract §1.6): a key's own limit and the organization's, counted in
DynamoDB fixed windows; a refused request is answered 429 before anything is written."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest

from shared.plumbing.clock import FixedClock
from shared.plumbing.config import settings
from tests.conftest import ApiClient, Org, install_clock
from tests.functional.identity.support import create_key, error_code

WINDOW_START_S = 1_900_000_020  # a whole minute
T0 = FixedClock((WINDOW_START_S + 10) * 1000)  # 10 s into it


def _at_known_time(monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    clock = FixedClock(T0.now_ms())
    install_clock(monkeypatch, clock)
    return clock


def test_a_key_limited_to_n_per_minute_gets_429_on_request_n_plus_1_and_writes_nothing(
    tenant_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = ApiClient(create_key(tenant_api, rate_limit=3)["key"])
    clock = _at_known_time(monkeypatch)
    accepted_ids = []
    for n in range(3):
        body = {"queue_name": "limited", "payload": {"n": n}, "idempotency_key": f"req-{n}"}
        accepted = limited.post("/api/v1/jobs", body)
        assert accepted.status == 201, accepted
        accepted_ids.append(accepted.json["id"])
        assert accepted.headers["x-ratelimit-limit"] == "3"
        assert accepted.headers["x-ratelimit-remaining"] == str(2 - n)
        assert accepted.headers["x-ratelimit-reset"] == str(WINDOW_START_S + 60)
        assert accepted.headers["x-ratelimit-scope"] == "api_key"

    refused = limited.post(
        "/api/v1/jobs", {"queue_name": "limited", "payload": {"n": 3}, "idempotency_key": "req-3"}
    )
    assert refused.status == 429 and error_code(refused) == "RATE_LIMIT_EXCEEDED"
    assert refused.headers["retry-after"] == "50"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json["error"] == "rate_limit_exceeded"
    assert (refused.json["retry_after_secs"], refused.json["limit"], refused.json["remaining"]) == (50, 3, 0)
    assert refused.json["reset_at"].startswith("2030-03-17T17:48:00")

    # Nothing of request 4 was written: three jobs, and its idempotency key is still free.
    jobs = tenant_api.get("/api/v1/jobs", params={"queue_name": "limited"}).json
    assert sorted(job["id"] for job in jobs) == sorted(accepted_ids)
    fresh = tenant_api.post(
        "/api/v1/jobs", {"queue_name": "limited", "payload": {}, "idempotency_key": "req-3"}
    )
    assert fresh.status == 201 and fresh.json["created"] is True
    # Every endpoint counts, reads included; the owner's unlimited key is not affected.
    assert limited.get("/api/v1/jobs").status == 429
    assert tenant_api.get("/api/v1/jobs").status == 200

    clock.advance(50)  # the next window
    again = limited.get("/api/v1/jobs")
    assert again.status == 200 and again.headers["x-ratelimit-remaining"] == "2"


def test_window_items_expire(tenant_api: ApiClient, tenant: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    limited = create_key(tenant_api, rate_limit=10)
    _at_known_time(monkeypatch)
    ApiClient(limited["key"]).get("/api/v1/jobs")
    item = boto3.client("dynamodb").get_item(
        TableName=settings().table_name,
        Key={"pk": {"S": f"RATE#api_key#{limited['id']}"}, "sk": {"S": f"W#{WINDOW_START_S:010d}"}},
    )["Item"]
    assert item["n"]["N"] == "1"
    assert int(item["expires_ttl"]["N"]) == WINDOW_START_S + 120  # TTL: the window's end plus a minute


def test_an_organization_wide_limit(
    tenant_api: ApiClient,
    tenant: Org,
    other_tenant: Org,
    configure: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(SPOOLED_ORG_RATE_LIMIT_PER_MINUTE="4")
    _at_known_time(monkeypatch)
    first, second = ApiClient(tenant.api_key), ApiClient(create_key(ApiClient(tenant.api_key))["key"])
    # the create_key call above was request 1 of the organization's window
    assert first.get("/api/v1/jobs").headers["x-ratelimit-scope"] == "organization"
    assert second.get("/api/v1/jobs").status == 200
    assert first.get("/api/v1/jobs").headers["x-ratelimit-remaining"] == "0"
    refused = second.get("/api/v1/jobs")
    assert refused.status == 429 and refused.headers["x-ratelimit-scope"] == "organization"
    # Another organization has a window of its own.
    assert ApiClient(other_tenant.api_key).get("/api/v1/jobs").status == 200


def test_limits_are_on_by_default(tenant_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12, finding 2: without an environment variable nothing limited an organization or an
    address, so anyone could use up the stage's shared throttle."""
    _at_known_time(monkeypatch)
    response = tenant_api.get("/api/v1/jobs")
    assert response.status == 200
    assert (response.headers["x-ratelimit-scope"], response.headers["x-ratelimit-limit"]) == (
        "organization",
        "3000",
    )
    anonymous = tenant_api.post("/api/v1/auth/validate", {"token": "nonsense"}, api_key=None)
    assert (anonymous.headers["x-ratelimit-scope"], anonymous.headers["x-ratelimit-limit"]) == ("ip", "1200")


def test_requests_without_a_valid_credential_are_limited_per_address(
    tenant_api: ApiClient, configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(SPOOLED_IP_RATE_LIMIT_PER_MINUTE="3")
    # A window of its own: the table (and the tests' one client address) is shared by the module.
    _at_known_time(monkeypatch).advance(7 * 86_400)
    for n in range(3):
        guessed = tenant_api.get("/api/v1/jobs", api_key=f"sp_test_guess-{n}")
        assert guessed.status == 401, guessed
    refused = tenant_api.get("/api/v1/jobs", api_key="sp_test_guess-4")
    assert refused.status == 429 and refused.headers["x-ratelimit-scope"] == "ip"
    assert tenant_api.post("/api/v1/auth/login", {"api_key": "sp_test_guess-5"}, api_key=None).status == 429
    # A valid key is not counted against the address: the organization's own limit applies.
    assert tenant_api.get("/api/v1/jobs").status == 200


def test_without_limits_no_headers_and_no_writes(
    tenant_api: ApiClient, configure: Callable[..., None]
) -> None:
    configure(SPOOLED_ORG_RATE_LIMIT_PER_MINUTE="0", SPOOLED_IP_RATE_LIMIT_PER_MINUTE="0")
    response = tenant_api.get("/api/v1/jobs")
    assert response.status == 200
    assert not any(name.startswith("x-ratelimit") for name in response.headers)
