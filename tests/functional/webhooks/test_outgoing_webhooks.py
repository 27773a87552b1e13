"""Outgoing webhook endpoints (contract §2.10): CRUD, /test, client mistakes, scoped keys, tenants
and the webhook cap, through the real API handler against moto and a receiver on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from spooled.types import webhooks as sdk

from shared.webhooks.outgoing.signing import verify
from tests.functional.jobs_api import V1, assert_error
from tests.functional.webhook_receiver import Receiver, running_receiver

HOOKS = f"{V1}/outgoing-webhooks"
SECRET = "whsec_crud_0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def create(api: Any, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "ops alerts", "url": url, "events": ["job.completed", "job.failed"], **fields}
    response = api.post(HOOKS, body)
    assert response.status == 201, response
    return response.json


def test_create_get_list_and_the_secret_is_never_returned(
    api: Any, org: Any, clock: Any, receiver: Receiver
) -> None:
    created = create(api, receiver.url, secret=SECRET)
    hook = sdk.OutgoingWebhook.model_validate(created)  # the SDK's own model parses it
    assert hook.organization_id == org.id
    assert (hook.name, hook.url, hook.enabled, hook.failure_count, hook.format) == (
        "ops alerts",
        receiver.url,
        True,
        0,
        "json",
    )
    assert hook.events == ["job.completed", "job.failed"]
    assert hook.last_triggered_at is None and hook.last_status is None
    assert "secret" not in created

    fetched = api.get(f"{HOOKS}/{hook.id}")
    assert fetched.status == 200 and fetched.json == created
    clock.advance(1)
    second = create(api, receiver.url, name="second", events=["worker.registered"], enabled=False)
    listed = api.get(HOOKS)
    assert listed.status == 200
    assert [row["id"] for row in listed.json] == [second["id"], hook.id]  # newest first
    assert all("secret" not in row for row in listed.json)


def test_update_changes_only_what_is_sent(api: Any, receiver: Receiver) -> None:
    hook = create(api, receiver.url)
    response = api.put(
        f"{HOOKS}/{hook['id']}", {"name": "renamed", "events": ["queue.paused"], "format": "slack"}
    )
    assert response.status == 200, response
    updated = sdk.OutgoingWebhook.model_validate(response.json)
    assert (updated.name, updated.events, updated.format, updated.url) == (
        "renamed",
        ["queue.paused"],
        "slack",
        receiver.url,
    )
    assert api.get(f"{HOOKS}/{hook['id']}").json == response.json
    assert api.put(f"{HOOKS}/{hook['id']}", body=b"").status == 200  # an empty body changes nothing


def test_secret_is_three_state_absent_keeps_null_clears_string_replaces(api: Any, receiver: Receiver) -> None:
    hook_id = create(api, receiver.url, secret=SECRET)["id"]

    def test_request() -> Any:
        assert api.post(f"{HOOKS}/{hook_id}/test", body=b"").status == 200
        return receiver.requests[-1]

    def signed_with(request: Any, secret: str) -> bool:
        headers = request.headers
        return verify(
            secret, request.body, headers["x-spooled-timestamp"], headers.get("x-spooled-signature")
        )

    assert api.put(f"{HOOKS}/{hook_id}", {"name": "kept"}).status == 200
    assert signed_with(test_request(), SECRET)
    assert api.put(f"{HOOKS}/{hook_id}", {"secret": "whsec_rotated"}).status == 200
    assert signed_with(test_request(), "whsec_rotated")
    assert api.put(f"{HOOKS}/{hook_id}", {"secret": None}).status == 200
    assert "x-spooled-signature" not in test_request().headers


def test_delete_then_everything_is_404(api: Any, receiver: Receiver) -> None:
    hook_id = create(api, receiver.url)["id"]
    response = api.delete(f"{HOOKS}/{hook_id}")
    assert response.status == 204 and response.text == ""
    for method, suffix in [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/test"),
        ("GET", "/deliveries"),
    ]:
        body = {"name": "x"} if method == "PUT" else None
        assert_error(api.request(method, f"{HOOKS}/{hook_id}{suffix}", json_body=body), 404, "NOT_FOUND")
    assert api.get(HOOKS).json == []


def test_test_sends_the_reference_test_message_signed(api: Any, org: Any, receiver: Receiver) -> None:
    hook_id = create(api, receiver.url, secret=SECRET)["id"]
    response = api.post(f"{HOOKS}/{hook_id}/test", body=b"")
    assert response.status == 200, response
    result = sdk.TestWebhookResponse.model_validate(response.json)
    assert (result.success, result.status_code, result.error) == (True, 200, None)
    assert result.response_time_ms >= 0
    (request,) = receiver.requests
    assert request.path == "/hooks/spooled"
    assert request.json["event"] == "webhook.test"
    assert request.json["webhook_id"] == hook_id and request.json["organization_id"] == org.id
    assert request.json["test"] is True
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Spooled-OutgoingWebhook/1.0"
    assert headers["x-spooled-event"] == "webhook.test"
    assert headers["x-spooled-delivery-attempt"] == "1"
    assert verify(SECRET, request.body, headers["x-spooled-timestamp"], headers["x-spooled-signature"])


@pytest.mark.parametrize("status", [500, 404, 302])
def test_test_is_200_when_the_receiver_fails(api: Any, receiver: Receiver, status: int) -> None:
    hook_id = create(api, receiver.url)["id"]
    receiver.respond_with(status)
    response = api.post(f"{HOOKS}/{hook_id}/test", body=b"")
    assert response.status == 200
    assert response.json["success"] is False
    assert response.json["status_code"] == status
    assert response.json["error"] == f"HTTP {status}"
    assert len(receiver.requests) == 1  # a redirect is not followed


def test_test_to_a_closed_port_reports_request_failed(api: Any) -> None:
    with running_receiver() as gone:
        url = gone.url
    hook_id = create(api, url)["id"]
    response = api.post(f"{HOOKS}/{hook_id}/test", body=b"")
    assert response.status == 200
    assert (response.json["success"], response.json["status_code"], response.json["error"]) == (
        False,
        None,
        "Request failed",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/hook", "Invalid webhook URL: HTTP not allowed in production"),
        ("https://10.0.0.5/hook", "Invalid webhook URL: IP address not allowed"),
        ("https://169.254.169.254/latest/meta-data/", "Invalid webhook URL: Hostname not allowed"),
        ("https://redis:6379/", "Invalid webhook URL: Hostname not allowed"),
        ("https://svc.cluster.local/", "Invalid webhook URL: Hostname not allowed"),
        ("https://[::ffff:192.168.0.1]/", "Invalid webhook URL: IP address not allowed"),
        ("https://[64:ff9b::a9fe:a9fe]/latest/", "Invalid webhook URL: IP address not allowed"),  # NAT64
        ("https://0.0.0.0:8080/", "Invalid webhook URL: IP address not allowed"),
        ("ftp://example.com/", "Invalid webhook URL: URL scheme not allowed"),
        ("not a url", "Invalid webhook URL: Invalid URL format"),
    ],
)
def test_unsafe_urls_are_400_and_nothing_is_written(api: Any, url: str, message: str) -> None:
    body = assert_error(api.post(HOOKS, {"name": "n", "url": url, "events": ["job.created"]}), 400)
    assert body["message"].startswith(message)
    assert api.get(HOOKS).json == []


def test_an_unsafe_url_on_update_is_400_and_the_webhook_unchanged(api: Any, receiver: Receiver) -> None:
    hook = create(api, receiver.url)
    body = assert_error(api.put(f"{HOOKS}/{hook['id']}", {"url": "https://192.168.1.1/", "name": "x"}), 400)
    assert body["message"].startswith("Invalid webhook URL: ")
    assert api.get(f"{HOOKS}/{hook['id']}").json == hook


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "n", "url": "https://example.com", "events": ["job.exploded"]}, 400),
        ({"name": "n", "url": "https://example.com", "events": []}, 400),
        ({"name": "", "url": "https://example.com", "events": ["job.created"]}, 400),
        ({"name": "n" * 256, "url": "https://example.com", "events": ["job.created"]}, 400),
        ({"name": "n", "url": "https://example.com/" + "p" * 2048, "events": ["job.created"]}, 400),
        ({"name": "n", "url": "https://example.com", "events": ["job.created"], "format": "fax"}, 400),
        ({"name": "n", "url": "https://example.com", "events": ["job.created"], "secret": "s" * 256}, 400),
        ({"name": "n", "events": ["job.created"]}, 422),
        ({"name": "n", "url": "https://example.com", "events": "job.created"}, 422),
        ({"name": "n", "url": "https://example.com", "events": ["job.created"], "enabled": "yes"}, 422),
    ],
)
def test_client_mistakes_are_4xx_and_nothing_is_written(api: Any, body: dict[str, Any], status: int) -> None:
    assert_error(api.post(HOOKS, body), status, "VALIDATION_ERROR")
    assert api.get(HOOKS).json == []


def test_every_event_the_sdk_knows_is_accepted(api: Any, receiver: Receiver) -> None:
    from typing import get_args

    from spooled.types.webhooks import WebhookEvent

    events = list(get_args(WebhookEvent))
    assert sdk.OutgoingWebhook.model_validate(create(api, receiver.url, events=events)).events == events


def test_unknown_ids_are_404(api: Any, receiver: Receiver) -> None:
    missing = str(uuid.uuid4())
    assert_error(api.get(f"{HOOKS}/{missing}"), 404, "NOT_FOUND")
    hook_id = create(api, receiver.url)["id"]
    assert_error(api.post(f"{HOOKS}/{hook_id}/retry/{missing}", body=b""), 404, "NOT_FOUND")
    assert_error(api.post(f"{HOOKS}/{hook_id}/retry/not-a-delivery", body=b""), 404, "NOT_FOUND")
    assert_error(api.get(f"{HOOKS}/{'x' * 300}"), 404, "NOT_FOUND")


def _every_route(hook_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", HOOKS, {"name": "n", "url": "https://example.com", "events": ["job.created"]}),
        ("GET", HOOKS, None),
        ("GET", f"{HOOKS}/{hook_id}", None),
        ("PUT", f"{HOOKS}/{hook_id}", {"name": "taken over"}),
        ("DELETE", f"{HOOKS}/{hook_id}", None),
        ("POST", f"{HOOKS}/{hook_id}/test", None),
        ("GET", f"{HOOKS}/{hook_id}/deliveries", None),
        ("POST", f"{HOOKS}/{hook_id}/retry/{uuid.uuid4()}", None),
    ]


def test_queue_scoped_keys_get_403_on_every_route(api: Any, receiver: Receiver) -> None:
    hook = create(api, receiver.url)
    scoped = api.post(f"{V1}/api-keys", {"name": "scoped", "queues": ["emails"]}).json["key"]
    for method, path, body in _every_route(hook["id"]):
        response = api.request(method, path, json_body=body, api_key=scoped)
        assert_error(response, 403, "ACCESS_DENIED")
    assert api.get(f"{HOOKS}/{hook['id']}").json == hook
    assert receiver.requests == []


def test_another_organization_sees_and_changes_nothing(api: Any, other_api: Any, receiver: Receiver) -> None:
    hook = create(api, receiver.url)
    assert other_api.get(HOOKS).json == []
    for method, path, body in _every_route(hook["id"])[2:]:
        assert_error(other_api.request(method, path, json_body=body), 404, "NOT_FOUND")
    assert api.get(f"{HOOKS}/{hook['id']}").json == hook
    assert receiver.requests == []


def test_the_webhook_cap_counts_enabled_webhooks(
    api: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.plumbing import config

    monkeypatch.setenv("SPOOLED_LIMITS", '{"max_webhooks": 1}')
    config.settings.cache_clear()
    first = create(api, receiver.url)
    body = assert_error(api.post(HOOKS, {"name": "n", "url": receiver.url, "events": ["job.created"]}), 429)
    assert (body["code"], body["resource"], body["limit"], body["current"]) == (
        "QUOTA_EXCEEDED",
        "webhooks",
        1,
        1,
    )
    disabled = create(api, receiver.url, enabled=False)  # a disabled webhook is not charged
    # re-enabling is charged like creating
    assert_error(api.put(f"{HOOKS}/{disabled['id']}", {"enabled": True}), 429, "QUOTA_EXCEEDED")
    assert api.get(f"{HOOKS}/{disabled['id']}").json["enabled"] is False
    assert api.put(f"{HOOKS}/{first['id']}", {"enabled": False}).status == 200
    assert api.put(f"{HOOKS}/{disabled['id']}", {"enabled": True}).json["enabled"] is True
    assert api.delete(f"{HOOKS}/{disabled['id']}").status == 204
    assert create(api, receiver.url)["enabled"] is True
    usage = api.get(f"{V1}/organizations/usage")
    assert usage.status == 200 and usage.json["usage"]["webhooks"]["current"] == 2  # one enabled, one not
