"""Organizations (contract §2.13): registration modes, the caller's own organization, usage,
members, slugs and the webhook token."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from spooled.types.organizations import (
    CreateOrganizationResponse,
    Organization,
    OrganizationMember,
    OrganizationSummary,
    UsageInfo,
)

from tests.conftest import ApiClient, Org
from tests.functional.identity.support import ADMIN_HEADERS, claim, create_key, enqueue, error_code


def _slug() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def _register(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return ApiClient(None).post("/api/v1/organizations", body, headers=headers)


def test_open_registration_gives_an_org_and_a_working_key(tenant_api: ApiClient) -> None:
    slug = _slug()
    response = _register({"name": "Initech", "slug": slug, "billing_email": f"{slug}@example.com"})
    assert response.status == 201, response
    created = CreateOrganizationResponse.model_validate(response.json)
    assert created.organization.slug == slug and created.api_key.name == "Initial Admin Key"
    assert response.json["api_key"]["queues"] == ["*"]
    assert created.organization.settings["webhook_token"].startswith("whk_")
    me = ApiClient(created.api_key.key)
    assert me.get("/api/v1/organizations").json[0]["id"] == created.organization.id
    # the slug is unique; the billing e-mail is not, so registering tells nothing about other
    # customers (issue 12, finding 8)
    assert error_code(_register({"name": "Initech 2", "slug": slug})) == "CONFLICT"
    same_email = _register({"name": "Other", "slug": _slug(), "billing_email": f"{slug}@example.com"})
    assert same_email.status == 201, same_email


def test_registration_validation() -> None:
    cases = [
        ({"name": "ab", "slug": _slug()}, 400),
        ({"name": "Fine Name", "slug": "admin"}, 400),  # reserved
        ({"name": "Fine Name", "slug": "-bad-"}, 400),
        ({"name": "Fine Name", "slug": "UPPER"}, 400),
        ({"name": "Fine Name", "slug": _slug(), "billing_email": "not-an-email"}, 400),
        ({"name": "Fine Name"}, 422),
    ]
    for body, status in cases:
        assert _register(body).status == status, body


def test_registration_modes(tenant_api: ApiClient, configure: Callable[..., None]) -> None:
    configure(REGISTRATION_MODE="closed")
    body = {"name": "Closed Co", "slug": _slug()}
    assert _register(body).status == 401
    assert _register(body, {"X-Admin-Key": "wrong-key"}).status == 401
    assert _register(body, ADMIN_HEADERS).status == 201
    configure(REGISTRATION_MODE="invite")
    refused = _register({"name": "Invite Co", "slug": _slug()}, ADMIN_HEADERS)
    assert refused.status == 403 and error_code(refused) == "ACCESS_DENIED"


def test_own_organization_only(tenant_api: ApiClient, tenant: Org, other_tenant: Org) -> None:
    listed = tenant_api.get("/api/v1/organizations").json
    assert [OrganizationSummary.model_validate(row).id for row in listed] == [tenant.id]
    got = Organization.model_validate(tenant_api.get(f"/api/v1/organizations/{tenant.id}").json)
    assert got.slug == tenant.slug
    for method in ("GET", "PUT", "DELETE"):
        body: Any = {"name": "Hijacked"} if method == "PUT" else None
        response = tenant_api.request(method, f"/api/v1/organizations/{other_tenant.id}", json_body=body)
        assert response.status == 404 and other_tenant.slug not in response.text, method
    assert tenant_api.get(f"/api/v1/organizations/{other_tenant.id}/members").status == 404


def test_update_keeps_the_webhook_token(tenant_api: ApiClient, tenant: Org) -> None:
    before = tenant_api.get(f"/api/v1/organizations/{tenant.id}").json
    token = before["settings"]["webhook_token"]
    updated = tenant_api.put(
        f"/api/v1/organizations/{tenant.id}",
        {"name": "Renamed Inc", "settings": {"theme": "dark", "ratio": 0.5, "webhook_token": "whk_mine"}},
    )
    assert updated.status == 200, updated
    assert updated.json["name"] == "Renamed Inc"
    assert updated.json["settings"] == {"theme": "dark", "ratio": 0.5, "webhook_token": token}
    assert tenant_api.put(f"/api/v1/organizations/{tenant.id}", {"name": "no"}).status == 400
    assert tenant_api.put(f"/api/v1/organizations/{tenant.id}", {"settings": [1]}).status == 400


def test_a_billing_email_reveals_no_other_customer(
    tenant_api: ApiClient, tenant: Org, other_tenant: Org
) -> None:
    """Issue 12, finding 8: another organization's address answered 409, telling who is a customer."""
    first, second = f"{tenant.slug}@example.com", f"{tenant.slug}-2@example.com"
    assert tenant_api.put(f"/api/v1/organizations/{tenant.id}", {"billing_email": first}).status == 200
    other = ApiClient(other_tenant.api_key)
    used = other.put(f"/api/v1/organizations/{other_tenant.id}", {"billing_email": first})
    unused = other.put(f"/api/v1/organizations/{other_tenant.id}", {"billing_email": "nobody@example.org"})
    assert used.status == unused.status == 200, (used, unused)
    assert tenant_api.put(f"/api/v1/organizations/{tenant.id}", {"billing_email": second}).status == 200
    assert tenant_api.get(f"/api/v1/organizations/{tenant.id}").json["billing_email"] == second


def test_scoped_keys_cannot_manage_the_organization(tenant_api: ApiClient, tenant: Org) -> None:
    scoped = ApiClient(create_key(tenant_api, queues=["emails"])["key"])
    got = scoped.get(f"/api/v1/organizations/{tenant.id}")
    assert got.status == 200 and "webhook_token" not in got.json["settings"]
    for method, path in [
        ("PUT", f"/api/v1/organizations/{tenant.id}"),
        ("DELETE", f"/api/v1/organizations/{tenant.id}"),
        ("GET", f"/api/v1/organizations/{tenant.id}/members"),
        ("GET", "/api/v1/organizations/usage"),
        ("GET", "/api/v1/organizations/webhook-token"),
        ("POST", "/api/v1/organizations/webhook-token/regenerate"),
    ]:
        body: Any = {"name": "Scoped Rename"} if method == "PUT" else None
        assert scoped.request(method, path, json_body=body).status == 403, path


def test_usage_document(tenant_api: ApiClient, tenant: Org, drain: Callable[[], int]) -> None:
    enqueue(tenant_api, "emails")
    enqueue(tenant_api, "sms")
    claim(tenant_api, "emails")
    create_key(tenant_api)
    tenant_api.post("/api/v1/workers/register", {"queue_name": "emails", "hostname": "box-1"})
    drain()
    usage = UsageInfo.model_validate(tenant_api.get("/api/v1/organizations/usage").json)
    assert usage.limits.max_api_keys is None  # self-hosted default: unlimited
    counts = {name: getattr(usage.usage, name).current for name in type(usage.usage).model_fields}
    assert counts == {
        "jobs_today": 2,
        "active_jobs": 2,
        "queues": 2,
        "workers": 1,
        "api_keys": 2,
        "schedules": 0,
        "workflows": 0,
        "webhooks": 0,
    }
    assert usage.warnings == []


def test_members_are_the_active_keys(tenant_api: ApiClient, tenant: Org) -> None:
    scoped = create_key(tenant_api, name="Reporter", queues=["reports"])
    revoked = create_key(tenant_api, name="Gone")
    tenant_api.delete(f"/api/v1/api-keys/{revoked['id']}")
    rows = [
        OrganizationMember.model_validate(row)
        for row in tenant_api.get(f"/api/v1/organizations/{tenant.id}/members").json
    ]
    assert {(m.name, m.role) for m in rows} == {("Initial Admin Key", "owner"), ("Reporter", "member")}
    assert scoped["id"] in {m.id for m in rows}


def test_slugs(tenant_api: ApiClient, tenant: Org) -> None:
    public = ApiClient(None)
    taken = public.get("/api/v1/organizations/check-slug", params={"slug": tenant.slug}).json
    assert taken["available"] is False and taken["valid"] is True
    assert taken["suggestion"].startswith(tenant.slug + "-")
    free = public.get("/api/v1/organizations/check-slug", params={"slug": _slug()}).json
    assert free == {"available": True, "valid": True}
    reserved = public.get("/api/v1/organizations/check-slug", params={"slug": "admin"}).json
    assert reserved["valid"] is False and reserved["error"]
    assert public.post("/api/v1/organizations/generate-slug", {"name": "42 Robots Ltd"}).json == {
        "slug": "org-42-robots-ltd"
    }
    # A name whose slug is taken gets a random suffix.
    taken_name = f"Taken {uuid.uuid4().hex[:8]}"
    first = public.post("/api/v1/organizations/generate-slug", {"name": taken_name}).json["slug"]
    assert _register({"name": taken_name, "slug": first}).status == 201
    second = public.post("/api/v1/organizations/generate-slug", {"name": taken_name}).json["slug"]
    assert second.startswith(first + "-") and len(second) == len(first) + 7
    assert public.post("/api/v1/organizations/generate-slug", {"name": ""}).status == 400


def test_webhook_token(tenant_api: ApiClient, tenant: Org) -> None:
    first = tenant_api.get("/api/v1/organizations/webhook-token").json
    assert first["webhook_token"].startswith("whk_") and len(first["webhook_token"]) == 36
    assert first["webhook_url"].endswith(f"/api/v1/webhooks/{tenant.id}/custom")
    second = tenant_api.post("/api/v1/organizations/webhook-token/regenerate").json
    assert second["webhook_token"] != first["webhook_token"]
    assert tenant_api.get("/api/v1/organizations/webhook-token").json == second
    cleared = tenant_api.post("/api/v1/organizations/webhook-token/clear", {"confirm": True})
    assert cleared.status == 400 and error_code(cleared) == "BAD_REQUEST"


def test_delete_waits_for_active_work_then_removes_everything(
    tenant_api: ApiClient, tenant: Org, drain: Callable[[], int]
) -> None:
    job_id = enqueue(tenant_api, "emails")
    drain()
    assert tenant_api.delete(f"/api/v1/organizations/{tenant.id}").status == 409
    assert tenant_api.delete(f"/api/v1/jobs/{job_id}").status == 204  # cancelled: no longer active
    drain()
    assert tenant_api.delete(f"/api/v1/organizations/{tenant.id}").status == 204
    assert tenant_api.get("/api/v1/jobs").status == 401  # its keys went with it
    gone = ApiClient(None).get(f"/api/v1/admin/organizations/{tenant.id}", headers=ADMIN_HEADERS)
    assert gone.status == 404
    check = ApiClient(None).get("/api/v1/organizations/check-slug", params={"slug": tenant.slug}).json
    assert check["available"] is True


def test_a_deleted_organization_leaves_no_schedule_behind(tenant_api: ApiClient, tenant: Org) -> None:
    created = tenant_api.post(
        "/api/v1/schedules",
        {
            "name": "nightly",
            "cron_expression": "0 0 3 * * *",
            "queue_name": "reports",
            "payload_template": {},
        },
    )
    assert created.status == 201, created
    assert tenant_api.delete(f"/api/v1/organizations/{tenant.id}").status == 204
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    items = aws_clients.client("dynamodb").scan(TableName=settings().table_name)["Items"]
    schedules = [
        i for i in items if i["pk"]["S"].startswith(f"SCHEDULE#{tenant.id}") and i["sk"]["S"] == "SCHEDULE"
    ]
    assert schedules == []
