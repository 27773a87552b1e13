"""Request rate limits (contract §1.6): a key's own limit and the organization's, counted in
DynamoDB fixed windows; a refused request is answered 429 before anything is written."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest

from shared.identity import rate_limits
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


# --- how a container counts (shared/identity/rate_limits.py) ---------------------------------


def _window_count(subject: str) -> int | None:
    item = boto3.client("dynamodb").get_item(
        TableName=settings().table_name,
        Key={"pk": {"S": f"RATE#{subject}"}, "sk": {"S": f"W#{WINDOW_START_S:010d}"}},
    ).get("Item")
    return int(item["n"]["N"]) if item else None


def _limiter() -> rate_limits.RateLimiter:
    return rate_limits.RateLimiter(clock=FixedClock(T0.now_ms()))


def test_a_container_alone_admits_exactly_the_limit_and_writes_once_per_tenth_of_what_is_left(
    tenant_api: ApiClient,
) -> None:
    """Issue 11: a write per request was a third of a job's write units. Alone, the container
    flushes at 100, 90, 81, ... of 1,000 and is exact: request 1,001 is refused, and so is every
    later one, with no write."""
    rate_limits.forget_taken()
    limiter, writes = _limiter(), []
    for n in range(1, 1_001):
        window = limiter.hit("organization", "alone", 1_000)
        assert window.allowed, n
        assert window.remaining == 1_000 - n
        count = _window_count("organization#alone")
        if not writes or count != writes[-1]:
            writes.append(count)
    assert writes[:4] == [None, 100, 190, 271]  # nothing written until the first tenth is used
    assert writes[-1] == 1_000 and len(writes) - 1 <= 60  # all counted in 59 writes, not 1,000
    for _ in range(3):
        assert not limiter.hit("organization", "alone", 1_000).allowed
    assert _window_count("organization#alone") == 1_000  # refusals write nothing


def test_a_quiet_subject_writes_nothing_and_a_new_window_starts_from_zero(tenant_api: ApiClient) -> None:
    rate_limits.forget_taken()
    limiter = _limiter()
    for _ in range(99):
        assert limiter.hit("organization", "quiet", 1_000).allowed
    assert _window_count("organization#quiet") is None
    limiter.clock.advance(60)  # the next window: the 99 unflushed requests counted for nothing
    window = limiter.hit("organization", "quiet", 1_000)
    assert window.allowed and window.remaining == 999


def test_a_container_that_sees_another_ones_requests_flushes_every_fiftieth_and_refuses_past_the_limit(
    tenant_api: ApiClient,
) -> None:
    """Two containers: the other one's requests appear in the window's count at this one's first
    flush. From then on it flushes every fiftieth of the limit (20 of 1,000), and once the count it
    reads back is over the limit, its request is refused."""
    rate_limits.forget_taken()
    limiter = _limiter()
    table, key = settings().table_name, {"pk": {"S": "RATE#organization#busy"}}
    for _ in range(99):
        assert limiter.hit("organization", "busy", 1_000).allowed
    # The other container flushed 850 requests meanwhile.
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={**key, "sk": {"S": f"W#{WINDOW_START_S:010d}"}},
        UpdateExpression="ADD n :n",
        ExpressionAttributeValues={":n": {"N": "850"}},
    )
    window = limiter.hit("organization", "busy", 1_000)  # the 100th: this container's first flush
    assert window.allowed and window.remaining == 50 and _window_count("organization#busy") == 950
    assert rate_limits.flush_size(1_000, 950, shared=True) == 5  # a tenth of the 50 left
    admitted = 0
    while limiter.hit("organization", "busy", 1_000).allowed:
        admitted += 1
    assert admitted == 50 and _window_count("organization#busy") == 1_000


@pytest.mark.parametrize(
    ("limit", "known", "shared", "size"),
    [
        (3_000, 0, False, 300),  # alone at the start of a window: a tenth of the limit
        (3_000, 2_700, False, 30),  # a tenth of what is left
        (3_000, 0, True, 60),  # sharing: at most a fiftieth of the limit
        (3_000, 2_900, True, 10),  # sharing, near the end: a tenth of what is left is smaller
        (3_000, 2_995, False, 1),  # the last few: each request is counted before it is admitted
        (3_000, 3_000, False, 1),
        (9, 0, False, 1),  # limits under 10 are counted one request at a time
        (5, 0, True, 1),
    ],
)
def test_flush_size(limit: int, known: int, shared: bool, size: int) -> None:
    assert rate_limits.flush_size(limit, known, shared) == size
