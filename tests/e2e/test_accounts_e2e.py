"""Accounts, keys, queues, workers and operations through the official SDK against `make dev`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from spooled import SpooledClient
from spooled.errors import AuthenticationError, AuthorizationError, NotFoundError, RateLimitError

from tests.e2e.conftest import NO_BREAKER, NO_RETRY, ClientFactory, RunningStack
from tests.e2e.sdk_helpers import wait_until

pytestmark = pytest.mark.e2e


def _jwt_client(stack: RunningStack, access: str, refresh: str) -> SpooledClient:
    return SpooledClient(
        access_token=access,
        refresh_token=refresh,
        base_url=stack.base_url,
        retry=NO_RETRY,
        circuit_breaker=NO_BREAKER,
    )


def test_a_new_key_works_at_once_and_a_revoked_one_is_refused(
    client: SpooledClient, make_client: ClientFactory, queue_name: str
) -> None:
    created = client.api_keys.create({"name": "e2e key", "queues": [queue_name]})
    keyed = make_client(created.key)
    job = keyed.jobs.create({"queue_name": queue_name, "payload": {"from": "new key"}})
    assert client.jobs.get(job.id).payload == {"from": "new key"}
    with pytest.raises(AuthorizationError):
        keyed.jobs.create({"queue_name": f"{queue_name}-elsewhere", "payload": {}})

    listed = {key.id: key for key in client.api_keys.list()}
    assert listed[created.id].queues == [queue_name] and listed[created.id].is_active
    renamed = client.api_keys.update(created.id, {"name": "renamed"})
    assert renamed.name == "renamed" and client.api_keys.get(created.id).name == "renamed"

    client.api_keys.delete(created.id)
    with pytest.raises(AuthenticationError):
        keyed.jobs.list({"queue_name": queue_name})
    assert client.api_keys.get(created.id).is_active is False


def test_jwt_login_me_refresh_logout(client: SpooledClient, local_stack: RunningStack) -> None:
    key = client.api_keys.create({"name": "jwt e2e"}).key  # a key of its own: logins are limited per key
    tokens = client.auth.login({"api_key": key})
    assert tokens.token_type == "Bearer" and tokens.expires_in == 3_600  # 1 h (issue 12, finding 5)
    jwt_client = _jwt_client(local_stack, tokens.access_token, tokens.refresh_token)
    try:
        me = jwt_client.auth.me()
        assert me.queues == ["*"] and me.organization is not None and me.organization.slug == "dev"
        assert jwt_client.auth.validate({"token": tokens.access_token}).valid is True

        refreshed = jwt_client.auth.refresh({"refresh_token": tokens.refresh_token})
        assert (
            jwt_client.auth.validate({"token": refreshed.access_token}).organization_id == me.organization_id
        )
        # The SDK keeps the refresh token it was given; using it again still works (rotation
        # revokes a login only when an older token follows a newer one).
        assert jwt_client.auth.refresh({"refresh_token": tokens.refresh_token}).access_token

        # logout sends the client's refresh token too, so the SDK's automatic refresh cannot revive it
        jwt_client.auth.logout()
        with pytest.raises(AuthenticationError):
            jwt_client.auth.me()
        revoked = client.auth.validate({"token": tokens.access_token})
        assert (revoked.valid, revoked.error) == (False, "Token has been revoked")
    finally:
        jwt_client.close()


def test_a_paused_queue_hands_out_nothing_until_resumed(client: SpooledClient, queue_name: str) -> None:
    job = client.jobs.create({"queue_name": queue_name, "payload": {"wait": "for resume"}})
    paused = client.queues.pause(queue_name, reason="e2e maintenance")
    assert paused.paused and paused.reason == "e2e maintenance"
    assert client.jobs.claim({"queue_name": queue_name, "worker_id": "e2e-w"}).jobs == []
    assert client.queues.get(queue_name).enabled is False

    resumed = client.queues.resume(queue_name)
    assert resumed.resumed
    claimed = client.jobs.claim({"queue_name": queue_name, "worker_id": "e2e-w"}).jobs
    assert [j.id for j in claimed] == [job.id]


def test_queues_workers_dashboard_usage_and_metrics(
    client: SpooledClient, local_stack: RunningStack, queue_name: str
) -> None:
    config = client.queues.update_config(queue_name, {"max_retries": 6, "default_timeout": 90})
    assert (config.max_retries, config.default_timeout) == (6, 90)
    job = client.jobs.create({"queue_name": queue_name, "payload": {}})
    created = client.jobs.get(job.id)  # the SDK sends only what the caller set: the queue's defaults apply
    assert (created.max_retries, created.timeout_seconds) == (6, 90)
    worker = client.workers.register({"queue_name": queue_name, "hostname": "e2e-host"})
    assert client.workers.get(worker.id).hostname == "e2e-host"
    assert worker.id in {w.id for w in client.workers.list()}

    assert queue_name in {q.queue_name for q in client.queues.list()}
    stats = client.queues.get_stats(queue_name)
    assert stats.queue_name == queue_name and stats.active_workers == 1

    dashboard = client.dashboard.get()  # parsed by the SDK's own models
    assert dashboard.system.environment == "development" and dashboard.jobs.total >= 1
    usage = client.organizations.get_usage()
    assert usage.usage.api_keys.current >= 1 and usage.limits.max_api_keys is None

    # The counters follow the table's stream, a moment behind the write.
    def metrics_with_the_job() -> str | None:
        text = client.metrics.get()
        return text if f'queue="{queue_name}",status="pending"}} 1' in text else None

    text = wait_until(metrics_with_the_job, "the queue's pending job in /metrics")
    assert "# TYPE spooled_job_claims_total counter" in text

    client.queues.delete(queue_name, delete_jobs=True)
    with pytest.raises(NotFoundError):
        client.jobs.get(job.id)


def test_a_rate_limited_key_gets_429_on_request_n_plus_1_and_nothing_is_written(
    client: SpooledClient, make_client: ClientFactory, queue_name: str
) -> None:
    limited = make_client(client.api_keys.create({"name": "limited", "rate_limit": 3}).key)
    # Start in a fresh minute if this one is nearly over, so all four requests share one window.
    seconds_left = 60 - datetime.now(UTC).second
    if seconds_left < 5:
        time.sleep(seconds_left + 0.2)
    for n in range(3):
        limited.jobs.create({"queue_name": queue_name, "payload": {"n": n}})
        assert limited.rate_limit is not None and limited.rate_limit.remaining == 2 - n
    with pytest.raises(RateLimitError) as refused:
        limited.jobs.create({"queue_name": queue_name, "payload": {"n": 3}})
    assert refused.value.get_retry_after() >= 1
    payloads = sorted(
        client.jobs.get(row.id).payload["n"] for row in client.jobs.list({"queue_name": queue_name})
    )
    assert payloads == [0, 1, 2]


def test_organizations_and_isolation(make_client: ClientFactory, local_stack: RunningStack) -> None:
    public = make_client()
    slug = f"e2e-{uuid.uuid4().hex[:10]}"
    assert public.organizations.check_slug(slug).available is True
    created = public.organizations.create({"name": "E2E Tenant", "slug": slug})
    tenant = make_client(created.api_key.key)
    assert [org.id for org in tenant.organizations.list()] == [created.organization.id]
    assert tenant.organizations.get(created.organization.id).slug == slug
    members = tenant.organizations.get_members(created.organization.id)
    assert [m.role for m in members] == ["owner"]
    token = tenant.organizations.regenerate_webhook_token()
    assert tenant.organizations.get_webhook_token().webhook_token == token.webhook_token
    assert public.organizations.generate_slug("E2E Tenant").slug == "e2e-tenant"

    # The dev organization's resources do not exist for the new tenant.
    dev_org = make_client().organizations.list()[0]
    with pytest.raises(NotFoundError):
        tenant.organizations.get(dev_org.id)
    dev_job = make_client().jobs.create({"queue_name": "iso", "payload": {"secret": slug}})
    with pytest.raises(NotFoundError):
        tenant.jobs.get(dev_job.id)

    tenant.organizations.update(created.organization.id, {"name": "E2E Renamed"})
    tenant.organizations.delete(created.organization.id)
    with pytest.raises(AuthenticationError):
        tenant.organizations.list()


def test_admin_api(make_client: ClientFactory, local_stack: RunningStack) -> None:
    admin = make_client(admin_key=local_stack.admin_key)
    slug = f"adm-{uuid.uuid4().hex[:10]}"
    created = admin.admin.create_organization({"name": "Admin E2E", "slug": slug})
    org_id = created.organization.id
    assert slug in {org.slug for org in admin.admin.list_organizations({"limit": 100})}
    assert admin.admin.get_organization(org_id).plan_tier == "free"
    assert admin.admin.update_organization(org_id, {"plan_tier": "pro"}).plan_tier == "pro"
    key = admin.admin.create_api_key(org_id, {"name": "ops"})
    assert make_client(key.key).organizations.list()[0].id == org_id
    admin.admin.reset_usage(org_id)
    stats = admin.admin.get_stats()
    assert stats.organizations.total >= 2
    assert [plan.tier for plan in admin.admin.list_plans()] == ["free", "starter", "pro", "enterprise"]
    admin.admin.delete_organization(org_id, hard=True)
    with pytest.raises(NotFoundError):
        admin.admin.get_organization(org_id)
    with pytest.raises(AuthenticationError):
        make_client(admin_key="wrong-admin-key").admin.get_stats()


def test_saas_only_endpoints_answer_404(client: SpooledClient) -> None:
    with pytest.raises(NotFoundError, match="SaaS"):
        client.billing.get_status()
