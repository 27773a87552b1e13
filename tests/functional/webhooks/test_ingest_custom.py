"""POST /api/v1/webhooks/{org_id}/custom (contract §2.9, §3.12) against moto, through the API handler:
the org's webhook token, body validation, idempotency, limits, and nothing written on a refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from spooled.resources.ingest import CustomWebhookResponse

from shared.plumbing import table_keys
from tests.conftest import ApiClient, Org
from tests.functional.jobs_api import JOBS, assert_error, claim_one, get_job

V1 = "/api/v1"
MIB = 1024 * 1024


@pytest.fixture
def sender(api: ApiClient) -> ApiClient:
    """Whoever posts webhooks: no API key, only what the request itself carries."""
    return ApiClient(None)


def _token(api: ApiClient) -> str:
    response = api.get(f"{V1}/organizations/webhook-token")
    assert response.status == 200, response
    return str(response.json["webhook_token"])


def _post(sender: ApiClient, org_id: str, body: Any, token: str | None, **kwargs: Any) -> Any:
    headers = {"X-Webhook-Token": token} if token is not None else {}
    if isinstance(body, bytes):
        return sender.post(f"{V1}/webhooks/{org_id}/custom", body=body, headers=headers, **kwargs)
    return sender.post(f"{V1}/webhooks/{org_id}/custom", body, headers=headers, **kwargs)


def _table_snapshot() -> list[dict[str, Any]]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    db = aws_clients.client("dynamodb")
    items: list[dict[str, Any]] = []
    args: dict[str, Any] = {"TableName": settings().table_name, "ConsistentRead": True}
    while True:
        page = db.scan(**args)
        # Rate-limit windows aside: a counted request adds to its organization's window, refused
        # or not (the per-organization limit is on by default), and that is all it may write.
        items.extend(item for item in page["Items"] if not item["pk"]["S"].startswith("RATE#"))
        if "LastEvaluatedKey" not in page:
            break
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


@contextmanager
def nothing_written() -> Iterator[None]:
    """The table holds exactly what it held before the block: a refused request wrote nothing."""
    before = _table_snapshot()
    yield
    assert _table_snapshot() == before


def _deliveries(api: ApiClient, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"{V1}/webhooks/deliveries", params=params or None)
    assert response.status == 200, response
    return list(response.json)


# --- accepted ------------------------------------------------------------------------------


def test_a_webhook_becomes_a_pending_job_a_worker_can_claim(
    api: ApiClient, org: Org, sender: ApiClient
) -> None:
    body = {
        "queue_name": "orders",
        "event_type": "order.created",
        "payload": {"order": 42, "total": "9.99", "items": ["a", "b"], "note": "héllo €"},
        "priority": 7,
    }
    response = _post(sender, org.id, body, _token(api))
    assert response.status == 200, response
    parsed = CustomWebhookResponse.model_validate(response.json)
    assert parsed.queue_name == "orders" and parsed.status == "pending" and parsed.job_id
    assert response.json["created"] is True

    job = get_job(api, parsed.job_id)
    assert (job["status"], job["queue_name"], job["priority"]) == ("pending", "orders", 7)
    assert job["payload"] == body["payload"]
    # defaults of a queue without configuration
    assert (job["max_retries"], job["timeout_seconds"]) == (3, 300)
    assert claim_one(api, "orders")["id"] == parsed.job_id

    [row] = _deliveries(api)
    assert row["provider"] == "custom" and row["event_type"] == "order.created"
    assert (row["matched_queue"], row["job_id"], row["status"]) == ("orders", parsed.job_id, "created")


def test_defaults_come_from_the_queue_configuration(api: ApiClient, org: Org, sender: ApiClient) -> None:
    configured = api.put(f"{V1}/queues/billing/config", {"max_retries": 9, "default_timeout": 45})
    assert configured.status == 200, configured
    response = _post(sender, org.id, {"queue_name": "billing", "payload": [1, 2]}, _token(api))
    assert response.status == 200, response
    job = get_job(api, response.json["job_id"])
    assert (job["max_retries"], job["timeout_seconds"], job["priority"]) == (9, 45, 0)
    assert _deliveries(api)[0]["event_type"] == "custom"  # the default event type


@pytest.mark.parametrize("payload", [None, 0, "text", [], {"deep": {"er": [1, {"x": None}]}}])
def test_any_json_payload_is_kept_as_sent(api: ApiClient, org: Org, sender: ApiClient, payload: Any) -> None:
    response = _post(sender, org.id, {"queue_name": "any", "payload": payload}, _token(api))
    assert response.status == 200, response
    assert get_job(api, response.json["job_id"])["payload"] == payload


def test_a_repeated_idempotency_key_returns_the_same_job(
    api: ApiClient, org: Org, sender: ApiClient, clock: Any
) -> None:
    token = _token(api)
    body = {"queue_name": "orders", "payload": {"n": 1}, "idempotency_key": "order-42"}
    first = _post(sender, org.id, body, token)
    clock.advance(0.001)
    again = _post(sender, org.id, {**body, "payload": {"n": 2}, "queue_name": "elsewhere"}, token)
    assert first.status == again.status == 200
    assert again.json["job_id"] == first.json["job_id"]
    assert again.json["created"] is False and again.json["queue_name"] == "orders"
    assert get_job(api, first.json["job_id"])["payload"] == {"n": 1}  # the duplicate changed nothing
    listed = api.get(JOBS, params={"queue_name": "elsewhere"})
    assert listed.json == []
    rows = _deliveries(api)
    assert [row["status"] for row in rows] == ["duplicate", "created"]
    assert {row["job_id"] for row in rows} == {first.json["job_id"]}

    # The key space is the organization's, shared with POST /jobs (contract §3.5).
    claimed = claim_one(api, "orders")
    third = _post(sender, org.id, body, token)
    assert third.json["job_id"] == claimed["id"] and third.json["status"] == "processing"
    made = api.post(JOBS, {"queue_name": "orders", "payload": {}, "idempotency_key": "order-42"})
    assert made.status == 200 and made.json == {"id": first.json["job_id"], "created": False}


def test_a_credential_sent_anyway_is_ignored(api: ApiClient, org: Org) -> None:
    # The SDK sends its API key on every call; the route authenticates with the token alone.
    response = _post(api, org.id, {"queue_name": "q", "payload": {}}, _token(api))
    assert response.status == 200, response


# --- refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "Invalid or missing X-Webhook-Token"),
        ("", "Invalid or missing X-Webhook-Token"),
        ("whk_not-the-token", "Invalid or missing X-Webhook-Token"),
    ],
)
def test_a_missing_or_wrong_token_is_401(
    api: ApiClient, org: Org, sender: ApiClient, token: str | None, message: str
) -> None:
    with nothing_written():
        body = assert_error(
            _post(sender, org.id, {"queue_name": "q", "payload": {}}, token), 401, "UNAUTHORIZED"
        )
    assert body["message"] == message


def test_a_regenerated_token_replaces_the_old_one_at_once(
    api: ApiClient, org: Org, sender: ApiClient
) -> None:
    old = _token(api)
    new = api.post(f"{V1}/organizations/webhook-token/regenerate").json["webhook_token"]
    assert new != old
    assert _post(sender, org.id, {"queue_name": "q", "payload": {}}, old).status == 401
    assert _post(sender, org.id, {"queue_name": "q", "payload": {}}, new).status == 200


def test_an_organization_without_a_token_accepts_nothing(api: ApiClient, org: Org, sender: ApiClient) -> None:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    token = _token(api)
    aws_clients.client("dynamodb").update_item(
        TableName=settings().table_name,
        Key=table_keys.org_key(org.id),
        UpdateExpression="REMOVE webhook_token",
    )
    with nothing_written():
        body = assert_error(_post(sender, org.id, {"queue_name": "q", "payload": {}}, token), 401)
    assert "not configured" in body["message"]


@pytest.mark.parametrize(
    "org_id", ["6f1c1d7e-0000-4000-8000-000000000000", "not-a-uuid", "x" * 300, "deliveries"]
)
def test_an_unknown_organization_is_404(api: ApiClient, sender: ApiClient, org_id: str) -> None:
    token = _token(api)
    with nothing_written():
        body = assert_error(_post(sender, org_id, {"queue_name": "q", "payload": {}}, token), 404)
    assert org_id not in body["message"]


def test_one_organizations_token_does_not_open_another(
    api: ApiClient, other_api: ApiClient, org: Org, other_org: Org, sender: ApiClient
) -> None:
    token = _token(api)
    other_token = _token(other_api)
    with nothing_written():
        assert_error(_post(sender, other_org.id, {"queue_name": "q", "payload": {}}, token), 401)
        assert_error(_post(sender, org.id, {"queue_name": "q", "payload": {}}, other_token), 401)


@pytest.mark.parametrize(
    "queue",
    [
        "../x",
        "..",
        "a/../b",
        "a..b",
        "x/y",
        ".hidden",
        "-dash",
        "",
        "a b",
        "ü",
        "q" * 101,
        "%2e%2e",
    ],
)
def test_invalid_queue_names_are_400(api: ApiClient, org: Org, sender: ApiClient, queue: str) -> None:
    token = _token(api)
    with nothing_written():
        body = assert_error(_post(sender, org.id, {"queue_name": queue, "payload": {}}, token), 400)
    assert body["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"queue_name": "q", "payload": {}, "event_type": "has space"}, 400),
        ({"queue_name": "q", "payload": {}, "event_type": "e" * 101}, 400),
        ({"queue_name": "q", "payload": {}, "event_type": ""}, 400),
        ({"queue_name": "q", "payload": {}, "priority": 101}, 400),
        ({"queue_name": "q", "payload": {}, "priority": -101}, 400),
        ({"queue_name": "q", "payload": {}, "idempotency_key": "k" * 256}, 400),
        ({"queue_name": "q", "payload": {}, "idempotency_key": ""}, 400),
        ({"queue_name": "q", "payload": {}, "priority": "5"}, 422),
        ({"queue_name": "q"}, 422),
        ({"payload": {}}, 422),
        ([1, 2], 422),
        (b"{not json", 422),
        (b"", 422),
    ],
)
def test_invalid_bodies_are_refused_whole(
    api: ApiClient, org: Org, sender: ApiClient, body: Any, status: int
) -> None:
    token = _token(api)
    with nothing_written():
        assert_error(_post(sender, org.id, body, token), status, "VALIDATION_ERROR")


def test_validation_comes_after_the_token(api: ApiClient, org: Org, sender: ApiClient) -> None:
    # A stranger learns nothing about what a valid body looks like.
    assert_error(_post(sender, org.id, {"queue_name": "../x"}, "whk_wrong"), 401)


def test_a_payload_over_the_job_limit_is_413(api: ApiClient, org: Org, sender: ApiClient) -> None:
    token = _token(api)
    with nothing_written():
        response = _post(sender, org.id, {"queue_name": "q", "payload": "x" * MIB}, token)
        body = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["limit"] == MIB and body["current"] > MIB


def test_a_body_over_5_mib_is_413_before_anything_is_read(
    api: ApiClient, org: Org, sender: ApiClient
) -> None:
    huge = json.dumps({"queue_name": "q", "payload": "x" * (5 * MIB)}).encode()
    token = _token(api)
    with nothing_written():
        body = assert_error(_post(sender, org.id, huge, token), 413, "PAYLOAD_TOO_LARGE")
    assert body["limit"] == 5 * MIB
    # even for an unknown organization: the size is checked before anything else
    assert_error(_post(sender, "6f1c1d7e-0000-4000-8000-000000000000", huge, None), 413)


def test_an_organization_rate_limit_counts_ingestion(
    api: ApiClient, org: Org, other_org: Org, other_api: ApiClient, sender: ApiClient, monkeypatch: Any
) -> None:
    from shared.plumbing import config

    token, other_token = _token(api), _token(other_api)
    # 3: reading the token above was the organization's first request of this window (the
    # per-organization limit is on by default), and the two deliveries below take the rest.
    monkeypatch.setenv("SPOOLED_ORG_RATE_LIMIT_PER_MINUTE", "3")
    config.settings.cache_clear()
    try:
        # Requests with a wrong token are not counted: nobody can use up the window of another.
        for _ in range(3):
            assert _post(sender, org.id, {"queue_name": "q", "payload": {}}, "whk_wrong").status == 401
        first = _post(sender, org.id, {"queue_name": "q", "payload": {}}, token)
        assert first.status == 200 and first.headers["x-ratelimit-scope"] == "organization"
        assert _post(sender, org.id, {"queue_name": "q", "payload": {}}, token).status == 200
        refused = _post(sender, org.id, {"queue_name": "q", "payload": {"n": 3}}, token)
        body = assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
        assert int(refused.headers["retry-after"]) >= 1 and body["limit"] == 3
        assert _post(sender, other_org.id, {"queue_name": "q", "payload": {}}, other_token).status == 200
    finally:
        monkeypatch.delenv("SPOOLED_ORG_RATE_LIMIT_PER_MINUTE")
        config.settings.cache_clear()
    assert len(api.get(JOBS, params={"queue_name": "q"}).json) == 2  # the refused one made no job


def test_production_refuses_plain_http(api: ApiClient, org: Org, sender: ApiClient, monkeypatch: Any) -> None:
    from shared.plumbing import config

    token = _token(api)
    monkeypatch.setenv("SPOOLED_ENV", "production")
    config.settings.cache_clear()
    try:
        plain = _post(sender, org.id, {"queue_name": "q", "payload": {}}, token, api_key=None)
        assert plain.status == 200  # no proxy header: API Gateway itself only speaks HTTPS
        refused = sender.post(
            f"{V1}/webhooks/{org.id}/custom",
            {"queue_name": "q", "payload": {}},
            headers={"X-Webhook-Token": token, "X-Forwarded-Proto": "http"},
        )
        assert_error(refused, 400, "BAD_REQUEST")
        secure = sender.post(
            f"{V1}/webhooks/{org.id}/custom",
            {"queue_name": "q", "payload": {}},
            headers={"X-Webhook-Token": token, "X-Forwarded-Proto": "https"},
        )
        assert secure.status == 200
    finally:
        config.settings.cache_clear()


def test_other_methods_are_405(api: ApiClient, org: Org, sender: ApiClient) -> None:
    assert_error(sender.get(f"{V1}/webhooks/{org.id}/custom"), 405, "METHOD_NOT_ALLOWED")
