"""GET /api/v1/webhooks/deliveries (contract §2.9): the inbound delivery log, newest first, with its
filters and paging, for unrestricted keys of the organization only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from spooled.types.webhooks import InboundWebhookDelivery, ListInboundDeliveriesParams

from tests.conftest import ApiClient, Org
from tests.functional.jobs_api import assert_error, get_job

V1 = "/api/v1"
LOG = f"{V1}/webhooks/deliveries"


def _ingest(api: ApiClient, org: Org, queue: str, **fields: Any) -> dict[str, Any]:
    token = api.get(f"{V1}/organizations/webhook-token").json["webhook_token"]
    response = ApiClient(None).post(
        f"{V1}/webhooks/{org.id}/custom",
        {"queue_name": queue, "payload": {"secret": "never in the log"}, **fields},
        headers={"X-Webhook-Token": token},
    )
    assert response.status == 200, response
    return dict(response.json)


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


@pytest.fixture
def history(api: ApiClient, org: Org, clock: Any) -> dict[str, Any]:
    """Four deliveries one second apart: a (created), b (created), a again (duplicate), c (created)."""
    first_ms = clock.now_ms()
    a = _ingest(api, org, "alpha", idempotency_key="k-a", event_type="order.created")
    clock.advance(1)
    b = _ingest(api, org, "beta")
    clock.advance(1)
    _ingest(api, org, "alpha", idempotency_key="k-a", event_type="order.created")
    clock.advance(1)
    c = _ingest(api, org, "alpha", event_type="order.paid")
    return {"first_ms": first_ms, "a": a["job_id"], "b": b["job_id"], "c": c["job_id"]}


def test_the_log_lists_newest_first_without_payloads(api: ApiClient, history: dict[str, Any]) -> None:
    response = api.get(LOG)
    assert response.status == 200 and response.headers["x-has-more"] == "false"
    rows = [InboundWebhookDelivery.model_validate(row) for row in response.json]
    assert [(r.matched_queue, r.job_id, r.status) for r in rows] == [
        ("alpha", history["c"], "created"),
        ("alpha", history["a"], "duplicate"),
        ("beta", history["b"], "created"),
        ("alpha", history["a"], "created"),
    ]
    assert [r.event_type for r in rows] == ["order.paid", "order.created", "custom", "order.created"]
    assert {r.provider for r in rows} == {"custom"} and len({r.id for r in rows}) == 4
    assert rows[0].created_at > rows[-1].created_at
    assert "never in the log" not in response.text


def test_filters(api: ApiClient, history: dict[str, Any]) -> None:
    def job_ids(**params: Any) -> list[str]:
        query = ListInboundDeliveriesParams.model_validate(params).to_query()
        response = api.get(LOG, params=query)
        assert response.status == 200, response
        return [row["job_id"] for row in response.json]

    assert job_ids(status="duplicate") == [history["a"]]
    assert job_ids(status="created") == [history["c"], history["b"], history["a"]]
    assert job_ids(queue_name="beta") == [history["b"]]
    assert job_ids(queue_name="alpha", status="created") == [history["c"], history["a"]]
    assert job_ids(queue_name="nope") == []
    # since is inclusive, and an offset as the SDK sends it (+00:00) works
    since = datetime.fromtimestamp((history["first_ms"] + 2000) / 1000, tz=UTC)
    assert job_ids(since=since) == [history["c"], history["a"]]
    naive = since.replace(tzinfo=None).isoformat()
    assert [row["job_id"] for row in api.get(LOG, params={"since": naive}).json] == [
        history["c"],
        history["a"],
    ]
    assert job_ids(since=datetime(2100, 1, 1, tzinfo=UTC)) == []


def test_an_unencoded_plus_in_since_still_means_an_offset(api: ApiClient, history: dict[str, Any]) -> None:
    since = _rfc3339(history["first_ms"] + 3000)
    response = api.request("GET", f"{LOG}?since={since}")  # '+' arrives as a space
    assert [row["job_id"] for row in response.json] == [history["c"]]


def test_paging(api: ApiClient, history: dict[str, Any]) -> None:
    first = api.get(LOG, params={"limit": 3})
    assert len(first.json) == 3 and first.headers["x-has-more"] == "true"
    rest = api.get(LOG, params={"limit": 3, "offset": 3})
    assert [row["job_id"] for row in rest.json] == [history["a"]] and rest.headers["x-has-more"] == "false"
    assert [row["id"] for row in first.json + rest.json] == [row["id"] for row in api.get(LOG).json]
    # out-of-range values are clamped, as on every list of the API
    assert len(api.get(LOG, params={"limit": 0}).json) == 1
    assert len(api.get(LOG, params={"limit": 1000}).json) == 4


def test_the_default_page_is_50(api: ApiClient, org: Org, clock: Any) -> None:
    for n in range(51):
        _ingest(api, org, f"q{n % 3}")
        clock.advance(0.01)
    page = api.get(LOG)
    assert len(page.json) == 50 and page.headers["x-has-more"] == "true"
    assert page.json[-1]["matched_queue"] == "q1"  # the oldest, q0, is the 51st


@pytest.mark.parametrize(
    "params",
    [{"status": "failed"}, {"status": "CREATED"}, {"since": "yesterday"}, {"since": "2026-13-01T00:00:00Z"}],
)
def test_invalid_filters_are_400(api: ApiClient, params: dict[str, str]) -> None:
    assert_error(api.get(LOG, params=params), 400, "VALIDATION_ERROR")


def test_only_unrestricted_keys_of_the_organization_read_the_log(
    api: ApiClient, other_api: ApiClient, org: Org, history: dict[str, Any]
) -> None:
    scoped = api.post(f"{V1}/api-keys", {"name": "scoped", "queues": ["alpha"]}).json["key"]
    assert_error(ApiClient(scoped).get(LOG), 403, "ACCESS_DENIED")
    assert_error(api.get(LOG, api_key=None), 401, "UNAUTHORIZED")
    assert other_api.get(LOG).json == []
    assert_error(api.post(LOG, {}), 405)


def test_a_failed_log_write_leaves_the_job_whole(api: ApiClient, org: Org, monkeypatch: Any) -> None:
    from functions.api import routes_ingest
    from shared.webhooks.inbound import expressions as inbound_webhooks

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"TableName": "no-such-table", "Item": {}}

    routes_ingest.service()  # built before the patch, as in a warm Lambda
    with monkeypatch.context() as patch:
        patch.setattr(inbound_webhooks, "put_delivery", broken)
        accepted = _ingest(api, org, "resilient", idempotency_key="once")
        assert get_job(api, accepted["job_id"])["status"] == "pending"
        assert _ingest(api, org, "resilient", idempotency_key="once")["job_id"] == accepted["job_id"]
    assert api.get(LOG).json == []


def test_deleting_the_organization_deletes_its_log(api: ApiClient, org: Org) -> None:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    accepted = _ingest(api, org, "gone")
    assert api.get(LOG).json[0]["job_id"] == accepted["job_id"]
    assert api.delete(f"{V1}/organizations/{org.id}").status == 204
    items = aws_clients.client("dynamodb").scan(TableName=settings().table_name)["Items"]
    assert [item["sk"]["S"] for item in items if item["sk"]["S"].startswith("INBOUND#")] == []
