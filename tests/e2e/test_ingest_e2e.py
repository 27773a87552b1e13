"""Incoming webhooks against `make dev`: the official SDK sets the token, posts a custom webhook and
claims the job it became; GitHub and Stripe deliveries go over real HTTP, so the signatures are
checked over the bytes that crossed the local gateway."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
from spooled import SpooledClient
from spooled.errors import AuthenticationError, ValidationError

from shared.webhooks.inbound.signatures import github_signature, stripe_signature
from tests.e2e.conftest import ClientFactory, RunningStack

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Tenant:
    client: SpooledClient
    org_id: str
    api_key: str


@pytest.fixture
def tenant(make_client: ClientFactory) -> Tenant:
    """An organization of this test's own, so its delivery log holds only what the test sent."""
    slug = f"ingest-{uuid.uuid4().hex[:10]}"
    created = make_client().organizations.create({"name": "Ingest E2E", "slug": slug})
    return Tenant(make_client(created.api_key.key), created.organization.id, created.api_key.key)


def test_a_custom_webhook_becomes_a_job_a_worker_claims(tenant: Tenant, queue_name: str) -> None:
    client, org_id = tenant.client, tenant.org_id
    token = client.organizations.regenerate_webhook_token()
    assert token.webhook_url is not None and token.webhook_url.endswith(f"/api/v1/webhooks/{org_id}/custom")

    params = {
        "queue_name": queue_name,
        "event_type": "order.created",
        "payload": {"order": 42, "customer": "Zoë"},
        "idempotency_key": f"order-42-{queue_name}",
        "priority": 5,
    }
    accepted = client.ingest.custom(org_id, params, webhook_token=token.webhook_token)
    assert accepted.status == "pending" and accepted.queue_name == queue_name and accepted.job_id
    again = client.ingest.custom(
        org_id, {**params, "payload": {"order": 43}}, webhook_token=token.webhook_token
    )
    assert again.job_id == accepted.job_id

    claimed = client.jobs.claim({"queue_name": queue_name, "worker_id": "e2e-ingest", "limit": 5}).jobs
    assert [job.id for job in claimed] == [accepted.job_id]
    assert claimed[0].payload == {"order": 42, "customer": "Zoë"}

    log = client.webhooks.list_inbound_deliveries({"queue_name": queue_name})
    assert [(row.provider, row.event_type, row.status, row.job_id) for row in log] == [
        ("custom", "order.created", "duplicate", accepted.job_id),
        ("custom", "order.created", "created", accepted.job_id),
    ]
    assert (
        client.webhooks.list_inbound_deliveries({"status": "duplicate", "limit": 1})[0].job_id
        == accepted.job_id
    )

    with pytest.raises(AuthenticationError):
        client.ingest.custom(org_id, params, webhook_token="whk_wrong")
    with pytest.raises(AuthenticationError):
        client.ingest.custom(org_id, params)
    with pytest.raises(ValidationError):
        client.ingest.custom(org_id, {**params, "queue_name": "../etc"}, webhook_token=token.webhook_token)


def test_signed_github_and_stripe_deliveries_over_http(tenant: Tenant, local_stack: RunningStack) -> None:
    client, org_id = tenant.client, tenant.org_id
    updated = client.organizations.update(
        org_id, {"settings": {"github_webhook_secret": "gh-e2e", "stripe_webhook_secret": "whsec_e2e"}}
    )
    assert "gh-e2e" not in json.dumps(updated.model_dump(mode="json"))
    base = f"{local_stack.base_url}/api/v1/webhooks/{org_id}"

    push = '{\n  "ref": "refs/heads/main",\n  "head_commit": {"message": "naïve café"}\n}\n'.encode()
    with httpx.Client(timeout=30) as http:
        status = http.get(
            f"{local_stack.base_url}/api/v1/organizations/webhook-token",
            headers={"Authorization": f"Bearer {tenant.api_key}"},
        ).json()
        assert status["has_github_webhook_secret"] and status["has_stripe_webhook_secret"]
        assert "gh-e2e" not in json.dumps(status)
        github = http.post(
            f"{base}/github",
            content=push,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": github_signature("gh-e2e", push),
            },
        )
        assert github.status_code == 200, github.text
        assert github.json()["queue_name"] == "github-push"
        tampered = http.post(
            f"{base}/github",
            content=push.replace(b"main", b"evil"),
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature("gh-e2e", push)},
        )
        assert tampered.status_code == 401 and tampered.json()["code"] == "UNAUTHORIZED"

        event = json.dumps(
            {"id": f"evt_{uuid.uuid4().hex}", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}},
            indent=2,
        ).encode()
        signed = stripe_signature("whsec_e2e", event, int(time.time()))
        stripe = http.post(f"{base}/stripe", content=event, headers={"Stripe-Signature": signed})
        assert stripe.status_code == 200, stripe.text
        stale = stripe_signature("whsec_e2e", event, int(time.time()) - 3600)
        assert (
            http.post(f"{base}/stripe", content=event, headers={"Stripe-Signature": stale}).status_code == 401
        )

    job = client.jobs.get(github.json()["job_id"])
    assert job.queue_name == "github-push" and job.payload["head_commit"]["message"] == "naïve café"
    assert client.jobs.get(stripe.json()["job_id"]).payload == {"id": "in_1"}
    providers = [row.provider for row in client.webhooks.list_inbound_deliveries()]
    assert providers == ["stripe", "github"]
