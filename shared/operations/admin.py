"""The operator's admin API (contract §2.15, `X-Admin-Key`): organizations, their keys, stats, plans.

Admin calls are rare and may read more than a tenant request (one usage read per listed
organization), but still no table scan: organizations are listed through the by_org index
(partition ORGS), and per-organization numbers come from maintained counts.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.identity import expressions as ex
from shared.identity import lambda_functions, plan_limits
from shared.identity.api_keys import ApiKeyService
from shared.identity.organizations import CreatedOrganization, organization_document
from shared.jobs.queues import activity as job_activity
from shared.jobs.queues import counters as queue_counters
from shared.jobs.workers.directory import WorkerDirectory
from shared.operations import usage as org_usage
from shared.operations.dashboard import PROCESS_STARTED_MS
from shared.operations.organization_service import OrganizationService, purge_organization, summary_document
from shared.plumbing import schema, table_service
from shared.plumbing.clock import Clock, from_datetime
from shared.plumbing.config import settings
from shared.plumbing.errors import NotFound
from shared.plumbing.table_service import TableService
from shared.webhooks.inbound.signatures import split_provider_secrets

if TYPE_CHECKING:  # request models are built only where a route parses a body
    from shared.identity import requests as am

MAX_ORGANIZATIONS = 100_000
SORT_KEYS = {"name", "slug", "plan_tier", "created_at", "updated_at"}
DAY_MS = 86_400_000


class Admin(TableService):
    def __init__(self, table: str | None = None, clock: Clock | None = None) -> None:
        super().__init__(table, clock)
        self.orgs = OrganizationService(self.table, self.clock)
        self.keys = ApiKeyService(self.table, self.clock)

    def _all(self) -> list[dict[str, Any]]:
        return table_service.items_in_partition(
            self.table, schema.BY_ORG_INDEX, ex.ALL_ORGS_PARTITION, MAX_ORGANIZATIONS
        )

    def _org(self, org_id: str) -> dict[str, Any]:
        org = self.orgs.item(org_id)
        if org is None:
            raise NotFound()
        return org

    def _usage_summary(self, org: dict[str, Any]) -> dict[str, int]:
        return org_usage.current(self.table, org, self.clock)

    # --- organizations -------------------------------------------------------------------

    def list_organizations(
        self,
        *,
        plan_tier: str | None,
        search: str | None,
        sort_by: str | None,
        descending: bool,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        rows = self._all()
        if plan_tier:
            rows = [org for org in rows if org.get("plan_tier") == plan_tier]
        if search:
            needle = search.lower()
            rows = [org for org in rows if needle in org["name"].lower() or needle in org["slug"]]
        key = sort_by if sort_by in SORT_KEYS else "created_at"
        rows.sort(key=lambda org: (org.get(key) is None, org.get(key) or ""), reverse=descending)
        page = rows[offset : offset + limit]
        return {
            "organizations": [
                {
                    **summary_document(org),
                    "billing_email": org.get("billing_email"),
                    "updated_at": organization_document(org)["updated_at"],
                    "usage": self._usage_summary(org),
                }
                for org in page
            ],
            "total": len(rows),
            "limit": limit,
            "offset": offset,
        }

    def create_organization(
        self, req: am.AdminCreateOrganization, headers: dict[str, str]
    ) -> CreatedOrganization:
        return self.orgs.register(
            req,
            headers,
            plan_tier=req.plan_tier,
            settings_value=req.settings,
            custom_limits=req.custom_limits,
        )

    def get_organization(self, org_id: str) -> dict[str, Any]:
        org = self._org(org_id)
        counts = queue_counters.read_counts(self.table, org_id)
        return {
            **organization_document(org),
            "usage_info": org_usage.document(self.table, org, self.clock),
            "api_keys_count": max(0, int(org.get("api_key_count", 0))),
            "lambda_functions": sorted(lambda_functions.allowed_of({**org, "plan_tier": None})),
            "total_jobs": sum(sum(by_status.values()) for by_status in counts.values()),
        }

    def update_organization(self, org_id: str, req: am.AdminUpdateOrganization) -> dict[str, Any]:
        org = self._org(org_id)
        sent = req.model_fields_set
        sets: dict[str, Any] = {}
        for name in ("name", "plan_tier"):
            if getattr(req, name) is not None:
                sets[name] = getattr(req, name)
        if req.settings is not None:
            # As in the organization's own update: provider secrets are write-only attributes.
            rest, provider_secrets = split_provider_secrets(req.settings)
            sets.update(provider_secrets)
            if rest or not provider_secrets:
                sets["settings"] = json.dumps({k: v for k, v in rest.items() if k != "webhook_token"})
        # An explicit null resets custom limits to the deployment's and clears a Stripe id.
        for name in ("custom_limits",):
            if name in sent:
                sets[name] = json.dumps(req.custom_limits) if req.custom_limits is not None else None
        for name in ("stripe_customer_id", "stripe_subscription_id"):
            if name in sent:
                sets[name] = getattr(req, name)
        if req.lambda_functions is not None:
            sets[lambda_functions.ATTRIBUTE] = lambda_functions.replace_allowed(
                self.table, org, req.lambda_functions
            )
        if req.billing_email is not None:
            sets["billing_email"] = req.billing_email
        return organization_document(self.orgs.update_fields(org_id, sets) if sets else org)

    def delete_organization(self, org_id: str, hard: bool) -> None:
        org = self._org(org_id)
        if hard:
            purge_organization(self.table, org, self.clock)
            return
        # Soft delete: the organization stays for the record, every key stops working at once.
        self.keys.revoke_all(org_id)
        self.orgs.update_fields(org_id, {"plan_tier": "deleted", "api_key_count": 0})

    def create_api_key(self, org_id: str, req: am.CreateApiKey) -> dict[str, Any]:
        self._org(org_id)
        created = self.keys.create_for_org(
            org_id,
            name=req.name,
            queues=req.queues,
            rate_limit=req.rate_limit,
            expires_at=from_datetime(req.expires_at) if req.expires_at else None,
        )
        created.pop("queues", None)
        return created

    def reset_usage(self, org_id: str) -> dict[str, Any]:
        """Start the organization's "jobs today" count again from now (whole hours)."""
        self._org(org_id)
        now_ms = self.clock.now_ms()
        self.orgs.update_fields(org_id, {"usage_reset_at": now_ms})
        return {"organization_id": org_id, "reset": True}

    # --- the deployment ------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        now_ms = self.clock.now_ms()
        orgs = [org for org in self._all() if org.get("plan_tier") != "deleted"]
        by_plan: dict[str, int] = {}
        for org in orgs:
            by_plan[org.get("plan_tier", "enterprise")] = (
                by_plan.get(org.get("plan_tier", "enterprise"), 0) + 1
            )
        day_start = now_ms - now_ms % DAY_MS
        jobs = {"total_active": 0, "pending": 0, "processing": 0, "completed_24h": 0, "failed_24h": 0}
        workers = {"total": 0, "healthy": 0, "degraded": 0}
        directory = WorkerDirectory(self.table, self.clock)
        for org in orgs:
            for by_status in queue_counters.read_counts(self.table, org["id"]).values():
                jobs["pending"] += by_status.get("pending", 0)
                jobs["processing"] += by_status.get("processing", 0)
                jobs["total_active"] += sum(
                    by_status.get(s, 0) for s in ("pending", "scheduled", "processing")
                )
            day = job_activity.last_24_hours(self.table, org["id"], now_ms)
            jobs["completed_24h"] += job_activity.total(day, "completed")
            jobs["failed_24h"] += job_activity.total(day, "deadlettered")
            for status, n in directory.status_counts(org["id"]).items():
                if status != "offline":
                    workers["total"] += n
                if status in ("healthy", "degraded"):
                    workers[status] += n
        return {
            "organizations": {
                "total": len(orgs),
                "by_plan": [{"plan": plan, "count": n} for plan, n in sorted(by_plan.items())],
                "created_today": sum(1 for org in orgs if org["created_at"] >= day_start),
                "created_this_week": sum(1 for org in orgs if org["created_at"] >= now_ms - 7 * DAY_MS),
            },
            "jobs": jobs,
            "workers": workers,
            "system": {
                "api_version": settings().version,
                "uptime_seconds": max(0, (now_ms - PROCESS_STARTED_MS) // 1000),
            },
        }

    def plans(self) -> list[dict[str, Any]]:
        return [limits.document() for limits in plan_limits.all_plans()]
