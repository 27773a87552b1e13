"""POST /api/v1/webhooks/{org_id}/github and /stripe against moto, through the API handler: the
organization's own provider secrets, verification over the exact bytes, queue naming, payloads,
deduplication on the provider's delivery id, and nothing written on a refusal."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest

from shared.plumbing import table_keys
from tests.conftest import ApiClient, ApiResponse, Org
from tests.functional.jobs_api import assert_error, claim_one, get_job

V1 = "/api/v1"
GITHUB_SECRET = "gh-s3cret-for-acme"
STRIPE_SECRET = "whsec_acme_0123456789abcdef"

# Bodies as the providers send them: pretty-printed, non-ASCII as UTF-8, a trailing newline.
PUSH_EVENT = (
    '{\n  "ref": "refs/heads/main",\n  "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",\n'
    '  "repository": {"id": 1296269, "full_name": "octocat/Hello-World"},\n'
    '  "head_commit": {"message": "Fix naïve café €"},\n  "pusher": {"name": "octocat"}\n}\n'
).encode()
STRIPE_EVENT = (
    '{\n  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",\n  "object": "event",\n  "api_version": "2022-11-15",\n'
    '  "created": 1686089970,\n  "type": "invoice.payment_succeeded",\n  "livemode": false,\n'
    '  "data": {\n    "object": {\n      "id": "in_1NG8Du2eZvKYlo2C",\n      "object": "invoice",\n'
    '      "amount_paid": 2000,\n      "customer_name": "Zoë"\n    }\n  }\n}\n'
).encode()


def _github_headers(body: bytes, secret: str = GITHUB_SECRET, **extra: str) -> dict[str, str]:
    from shared.webhooks.inbound.signatures import github_signature

    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature-256": github_signature(secret, body),
        **extra,
    }


def _stripe_headers(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> dict[str, str]:
    from shared.webhooks.inbound.signatures import stripe_signature

    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe_signature(secret, body, timestamp),
    }


def _send(
    org_id: str, provider: str, body: bytes, headers: dict[str, str], *, b64: bool = False
) -> ApiResponse:
    """A request from the provider: no API key; the body exactly as given, base64 in the event when
    API Gateway chose so (binary media types, or a body that is not UTF-8)."""
    from functions.api.handler import handler
    from local_stack.gateway import event_from_request

    event = event_from_request("POST", f"{V1}/webhooks/{org_id}/{provider}", headers, body, "192.30.252.1")
    if b64:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    result = handler(event, None)
    return ApiResponse(
        result["statusCode"], {k.lower(): v for k, v in result["headers"].items()}, result["body"]
    )


def _set_secrets(api: ApiClient, org: Org, **secrets: str | None) -> ApiResponse:
    return api.put(f"{V1}/organizations/{org.id}", {"settings": secrets})


@pytest.fixture
def secrets(api: ApiClient, org: Org) -> None:
    response = _set_secrets(
        api, org, github_webhook_secret=GITHUB_SECRET, stripe_webhook_secret=STRIPE_SECRET
    )
    assert response.status == 200, response


def _table_snapshot() -> list[str]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    items = aws_clients.client("dynamodb").scan(TableName=settings().table_name, ConsistentRead=True)["Items"]
    # Rate-limit windows aside: a counted request adds to its organization's window, refused or not.
    kept = [item for item in items if not item["pk"]["S"].startswith("RATE#")]
    return sorted(json.dumps(item, sort_keys=True) for item in kept)


@contextmanager
def nothing_written() -> Iterator[None]:
    before = _table_snapshot()
    yield
    assert _table_snapshot() == before


def _deliveries(api: ApiClient) -> list[dict[str, Any]]:
    response = api.get(f"{V1}/webhooks/deliveries")
    assert response.status == 200, response
    return list(response.json)


# --- secrets ------------------------------------------------------------------------------


def test_secrets_are_write_only_and_kept_beside_the_settings(api: ApiClient, org: Org) -> None:
    assert api.put(f"{V1}/organizations/{org.id}", {"settings": {"theme": "dark"}}).status == 200
    updated = _set_secrets(api, org, github_webhook_secret=GITHUB_SECRET, stripe_webhook_secret=STRIPE_SECRET)
    assert updated.status == 200, updated
    # An object of secrets alone leaves the other settings as they were.
    assert updated.json["settings"]["theme"] == "dark"
    for response in (updated, api.get(f"{V1}/organizations/{org.id}"), api.get(f"{V1}/organizations")):
        assert GITHUB_SECRET not in response.text and STRIPE_SECRET not in response.text
    status = api.get(f"{V1}/organizations/webhook-token").json
    assert status["has_github_webhook_secret"] is True and status["has_stripe_webhook_secret"] is True
    assert status["github_webhook_url"].endswith(f"/api/v1/webhooks/{org.id}/github")
    assert status["stripe_webhook_url"].endswith(f"/api/v1/webhooks/{org.id}/stripe")
    assert GITHUB_SECRET not in json.dumps(status)

    # Settings sent with other keys replace the object as always; the secrets stay.
    replaced = api.put(f"{V1}/organizations/{org.id}", {"settings": {"lang": "fr"}})
    assert replaced.json["settings"]["lang"] == "fr" and "theme" not in replaced.json["settings"]
    assert api.get(f"{V1}/organizations/webhook-token").json["has_github_webhook_secret"] is True

    cleared = _set_secrets(api, org, github_webhook_secret=None, stripe_webhook_secret="")
    assert cleared.status == 200 and cleared.json["settings"]["lang"] == "fr"
    status = api.get(f"{V1}/organizations/webhook-token").json
    assert status["has_github_webhook_secret"] is False and status["has_stripe_webhook_secret"] is False


def _org_item(org: Org) -> dict[str, Any]:
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    found = aws_clients.client("dynamodb").get_item(
        TableName=settings().table_name, Key=table_keys.org_key(org.id), ConsistentRead=True
    )
    return dict(found["Item"])


def test_a_scoped_key_cannot_set_secrets(api: ApiClient, org: Org) -> None:
    key = api.post(f"{V1}/api-keys", {"name": "scoped", "queues": ["emails"]}).json["key"]
    before = _org_item(org)
    assert_error(_set_secrets(ApiClient(key), org, github_webhook_secret="mine"), 403, "ACCESS_DENIED")
    assert _org_item(org) == before


@pytest.mark.parametrize("value", [42, "x" * 256, " padded "])
def test_an_unusable_secret_is_400_and_nothing_changes(api: ApiClient, org: Org, value: Any) -> None:
    before = _org_item(org)
    body = assert_error(_set_secrets(api, org, github_webhook_secret=value), 400, "VALIDATION_ERROR")
    assert body["details"][0]["field"] == "settings.github_webhook_secret"
    assert _org_item(org) == before


# --- GitHub ---------------------------------------------------------------------------------


def test_a_github_delivery_becomes_a_job_once(api: ApiClient, org: Org, secrets: None, clock: Any) -> None:
    response = _send(org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT))
    assert response.status == 200, response
    accepted = json.loads(response.text)
    assert (accepted["queue_name"], accepted["status"], accepted["created"]) == (
        "github-push",
        "pending",
        True,
    )
    job = get_job(api, accepted["job_id"])
    assert job["payload"] == json.loads(PUSH_EVENT)
    assert job["idempotency_key"] == f"github:sha256:{hashlib.sha256(PUSH_EVENT).hexdigest()}"
    assert claim_one(api, "github-push")["id"] == accepted["job_id"]

    clock.advance(0.001)
    redelivered = _send(org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT))
    assert redelivered.status == 200
    again = json.loads(redelivered.text)
    assert (
        again["job_id"] == accepted["job_id"]
        and again["created"] is False
        and again["status"] == "processing"
    )

    rows = _deliveries(api)
    assert [(r["provider"], r["event_type"], r["status"]) for r in rows] == [
        ("github", "push", "duplicate"),
        ("github", "push", "created"),
    ]
    assert rows[0]["verification"] == "github-hmac-sha256"


def test_a_captured_github_body_replayed_with_fresh_headers_makes_no_second_job(
    api: ApiClient, org: Org, secrets: None, clock: Any
) -> None:
    """Issue 12, finding 7: keyed on the unsigned X-GitHub-Delivery, each replay with a new id
    (and any X-GitHub-Event) made a new job."""
    first = json.loads(_send(org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT)).text)
    for n, event in enumerate(["push", "release", "deployment"]):
        clock.advance(0.001)
        replay = _github_headers(
            PUSH_EVENT, **{"X-GitHub-Delivery": f"replayed-{n}", "X-GitHub-Event": event}
        )
        response = _send(org.id, "github", PUSH_EVENT, replay)
        assert response.status == 200, response
        again = json.loads(response.text)
        assert (again["job_id"], again["created"], again["queue_name"]) == (
            first["job_id"],
            False,
            "github-push",
        )
    assert [job["id"] for job in api.get(f"{V1}/jobs").json] == [first["job_id"]]


def test_a_base64_encoded_body_is_verified_over_its_bytes(api: ApiClient, org: Org, secrets: None) -> None:
    response = _send(org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT), b64=True)
    assert response.status == 200, response
    assert get_job(api, json.loads(response.text)["job_id"])["payload"]["head_commit"]["message"].endswith(
        "€"
    )


def test_a_form_encoded_github_delivery(api: ApiClient, org: Org, secrets: None) -> None:
    body = urlencode({"payload": PUSH_EVENT.decode()}).encode()
    headers = _github_headers(
        body,
        **{"Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "pull_request.review"},
    )
    response = _send(org.id, "github", body, headers)
    assert response.status == 200, response
    accepted = json.loads(response.text)
    assert accepted["queue_name"] == "github-pull_request-review"
    assert get_job(api, accepted["job_id"])["payload"]["pusher"] == {"name": "octocat"}


@pytest.mark.parametrize(
    ("event", "queue"),
    [
        ("ping", "github-ping"),
        ("check_suite", "github-check_suite"),
        ("a/../b", "github-a----b"),
        ("x" * 100, "github-" + "x" * 57),
    ],
)
def test_github_queue_names_are_sanitised(
    api: ApiClient, org: Org, secrets: None, event: str, queue: str
) -> None:
    response = _send(org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT, **{"X-GitHub-Event": event}))
    assert response.status == 200, response
    assert json.loads(response.text)["queue_name"] == queue


@pytest.mark.parametrize(
    ("headers", "what"),
    [
        ({"X-Hub-Signature-256": None}, "missing signature"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "wrong signature"),
        ({"X-Hub-Signature-256": "sha1=abc"}, "legacy scheme"),
        ({"X-Hub-Signature-256": "garbage"}, "malformed"),
    ],
)
def test_a_bad_github_signature_is_401_and_writes_nothing(
    api: ApiClient, org: Org, secrets: None, headers: dict[str, str | None], what: str
) -> None:
    sent = {k: v for k, v in {**_github_headers(PUSH_EVENT), **headers}.items() if v is not None}
    with nothing_written():
        assert_error(_send(org.id, "github", PUSH_EVENT, sent), 401, "UNAUTHORIZED")


def test_a_tampered_github_body_is_401(api: ApiClient, org: Org, secrets: None) -> None:
    headers = _github_headers(PUSH_EVENT)
    with nothing_written():
        assert_error(_send(org.id, "github", PUSH_EVENT.replace(b"main", b"evil"), headers), 401)
        # the same JSON, re-encoded: the signature covers bytes, not meaning
        compact = json.dumps(json.loads(PUSH_EVENT), ensure_ascii=False).encode()
        assert_error(_send(org.id, "github", compact, headers), 401)


def test_github_without_a_secret_is_401_not_500(api: ApiClient, org: Org) -> None:
    with nothing_written():
        body = assert_error(_send(org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT)), 401)
    assert "secret" in body["message"]


def test_github_signed_but_not_json_is_400(api: ApiClient, org: Org, secrets: None) -> None:
    with nothing_written():
        assert_error(_send(org.id, "github", b"not json", _github_headers(b"not json")), 400, "BAD_REQUEST")
        headers = {k: v for k, v in _github_headers(PUSH_EVENT).items() if k != "X-GitHub-Event"}
        assert_error(_send(org.id, "github", PUSH_EVENT, headers), 400)


def test_one_organizations_github_secret_does_not_open_another(
    api: ApiClient, other_api: ApiClient, org: Org, other_org: Org, secrets: None
) -> None:
    assert _set_secrets(other_api, other_org, github_webhook_secret="globex-secret").status == 200
    with nothing_written():
        assert_error(_send(other_org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT)), 401)
    assert (
        _send(other_org.id, "github", PUSH_EVENT, _github_headers(PUSH_EVENT, "globex-secret")).status == 200
    )
    # each organization sees only its own jobs and log
    assert _deliveries(api) == [] and len(_deliveries(other_api)) == 1


def test_unknown_organization_is_404(api: ApiClient, secrets: None) -> None:
    missing = "6f1c1d7e-0000-4000-8000-000000000000"
    assert_error(_send(missing, "github", PUSH_EVENT, _github_headers(PUSH_EVENT)), 404, "NOT_FOUND")
    assert_error(_send(missing, "stripe", STRIPE_EVENT, _stripe_headers(STRIPE_EVENT, 1)), 404, "NOT_FOUND")


# --- Stripe ---------------------------------------------------------------------------------


def test_a_stripe_event_becomes_a_job_with_its_object(
    api: ApiClient, org: Org, secrets: None, clock: Any
) -> None:
    now_s = clock.now_ms() // 1000
    response = _send(org.id, "stripe", STRIPE_EVENT, _stripe_headers(STRIPE_EVENT, now_s))
    assert response.status == 200, response
    accepted = json.loads(response.text)
    assert accepted["queue_name"] == "stripe-invoice-payment_succeeded" and accepted["created"] is True
    job = get_job(api, accepted["job_id"])
    assert job["payload"] == json.loads(STRIPE_EVENT)["data"]["object"]
    assert job["idempotency_key"] == "stripe:evt_1NG8Du2eZvKYlo2CUI79vXWy"

    # Stripe retries with a new timestamp and signature: still the same event, the same job.
    clock.advance(60)
    retried = _send(org.id, "stripe", STRIPE_EVENT, _stripe_headers(STRIPE_EVENT, now_s + 60))
    assert json.loads(retried.text)["job_id"] == accepted["job_id"]
    assert json.loads(retried.text)["created"] is False
    rows = _deliveries(api)
    assert [(r["provider"], r["event_type"], r["status"]) for r in rows] == [
        ("stripe", "invoice.payment_succeeded", "duplicate"),
        ("stripe", "invoice.payment_succeeded", "created"),
    ]


def test_several_v1_signatures_while_rolling_the_secret(
    api: ApiClient, org: Org, secrets: None, clock: Any
) -> None:
    from shared.webhooks.inbound.signatures import hmac_sha256_hex

    now_s = clock.now_ms() // 1000
    old = hmac_sha256_hex("whsec_old", f"{now_s}.".encode() + STRIPE_EVENT)
    new = hmac_sha256_hex(STRIPE_SECRET, f"{now_s}.".encode() + STRIPE_EVENT)
    headers = {"Stripe-Signature": f"t={now_s},v1={old},v1={new}", "Content-Type": "application/json"}
    assert _send(org.id, "stripe", STRIPE_EVENT, headers).status == 200


@pytest.mark.parametrize(("age", "accepted"), [(300, True), (301, False), (-60, True), (-61, False)])
def test_the_stripe_time_window(
    api: ApiClient, org: Org, secrets: None, clock: Any, age: int, accepted: bool
) -> None:
    signed_at = clock.now_ms() // 1000 - age
    response = _send(org.id, "stripe", STRIPE_EVENT, _stripe_headers(STRIPE_EVENT, signed_at))
    assert response.status == (200 if accepted else 401), response


@pytest.mark.parametrize(
    "header",
    ["", "t=1,v1=" + "0" * 64, "v1=abc", "t=now,v1=abc", None],
)
def test_a_bad_stripe_signature_is_401_and_writes_nothing(
    api: ApiClient, org: Org, secrets: None, header: str | None
) -> None:
    headers = {"Content-Type": "application/json"} | (
        {"Stripe-Signature": header} if header is not None else {}
    )
    with nothing_written():
        assert_error(_send(org.id, "stripe", STRIPE_EVENT, headers), 401, "UNAUTHORIZED")


def test_stripe_signed_with_another_secret_or_tampered_is_401(
    api: ApiClient, org: Org, secrets: None, clock: Any
) -> None:
    now_s = clock.now_ms() // 1000
    with nothing_written():
        wrong = _stripe_headers(STRIPE_EVENT, now_s, secret="whsec_someone_else")
        assert_error(_send(org.id, "stripe", STRIPE_EVENT, wrong), 401)
        tampered = STRIPE_EVENT.replace(b"2000", b"1")
        assert_error(_send(org.id, "stripe", tampered, _stripe_headers(STRIPE_EVENT, now_s)), 401)


def test_stripe_without_a_secret_is_401(api: ApiClient, org: Org, clock: Any) -> None:
    headers = _stripe_headers(STRIPE_EVENT, clock.now_ms() // 1000)
    with nothing_written():
        assert_error(_send(org.id, "stripe", STRIPE_EVENT, headers), 401)


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_1", "type": "invoice.paid"},
        {"id": "evt_1", "data": {"object": {}}},
        {"type": "invoice.paid", "data": {"object": {}}},
        {"id": 5, "type": "invoice.paid", "data": {"object": {}}},
        {"id": "evt_1", "type": "invoice.paid", "data": {}},
        ["not", "an", "event"],
    ],
)
def test_a_signed_body_that_is_not_a_stripe_event_is_400(
    api: ApiClient, org: Org, secrets: None, clock: Any, event: Any
) -> None:
    body = json.dumps(event).encode()
    with nothing_written():
        response = _send(org.id, "stripe", body, _stripe_headers(body, clock.now_ms() // 1000))
        assert_error(response, 400, "BAD_REQUEST")
