"""Reading the worker registry (contract §2.6): list and get, with each worker's effective status.

A worker that stopped heartbeating is `offline` whether or not the stale-worker sweep has written
that yet: the status shown is derived from last_heartbeat at read time (pure function below), so
the list, the dashboard and the admin stats agree without waiting for a timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.identity.credentials import AuthContext
from shared.jobs import expressions as ex
from shared.jobs.workers.registry import WorkerRegistry, worker_document
from shared.plumbing import schema, table_service
from shared.plumbing.clock import to_rfc3339
from shared.plumbing.errors import NotFound
from shared.plumbing.table_service import TableService

STALE_AFTER_MS = 2 * 60 * 1000  # contract §3.10: no heartbeat for 2 minutes = offline
LIVE_STATUSES = ("healthy", "degraded", "draining")
MAX_LISTED = 100
MAX_ID_LENGTH = 255
# Newest registrations examined per list: workers without a stable id leave a row per restart.
MAX_EXAMINED = 500


def effective_status(item: dict[str, Any], now_ms: int) -> str:
    status = str(item.get("status") or "offline")
    if status in LIVE_STATUSES and int(item.get("last_heartbeat") or 0) <= now_ms - STALE_AFTER_MS:
        return "offline"
    return status


def worker_summary(item: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {
        "id": item["id"],
        "queue_name": item["queue_name"],
        "hostname": item["hostname"],
        "status": effective_status(item, now_ms),
        "current_jobs": int(item.get("current_jobs", 0)),
        "max_concurrency": int(item.get("max_concurrency", 5)),
        "last_heartbeat": to_rfc3339(item["last_heartbeat"]),
        "jobs_processed": int(item.get("jobs_processed", 0)),
        "jobs_failed": int(item.get("jobs_failed", 0)),
    }


def worker_detail(item: dict[str, Any], now_ms: int) -> dict[str, Any]:
    document = worker_document(item)
    document.update(
        status=effective_status(item, now_ms),
        jobs_processed=int(item.get("jobs_processed", 0)),
        jobs_failed=int(item.get("jobs_failed", 0)),
    )
    return document


class WorkerDirectory(TableService):
    def items(self, org_id: str, limit: int = MAX_EXAMINED) -> list[dict[str, Any]]:
        """The organization's worker items (newest registrations first, at most `limit`)."""
        found = table_service.items_in_partition(
            self.table, schema.BY_ORG_INDEX, ex.workers_by_org_pk(org_id), limit
        )
        return [item for item in found if item.get("org_id") == org_id]

    def list(self, ctx: AuthContext) -> list[dict[str, Any]]:
        now_ms = self.clock.now_ms()
        visible = [item for item in self.items(ctx.org_id) if ctx.allows_queue(item["queue_name"])]
        visible.sort(key=lambda item: int(item.get("last_heartbeat") or 0), reverse=True)
        return [worker_summary(item, now_ms) for item in visible[:MAX_LISTED]]

    def get(self, ctx: AuthContext, worker_id: str) -> dict[str, Any]:
        if len(worker_id) > MAX_ID_LENGTH:
            raise NotFound()  # no such id was ever registered (and DynamoDB keys have a size limit)
        item = WorkerRegistry(self.table, self.clock).get(ctx.org_id, worker_id)
        if not ctx.allows_queue(item["queue_name"]):
            raise NotFound()  # outside the key's scope: as if it did not exist (contract §3.13)
        return worker_detail(item, self.clock.now_ms())

    def status_counts(self, org_id: str, visible: Callable[[str], bool] | None = None) -> dict[str, int]:
        """Effective statuses of the organization's workers (of the queues `visible` accepts)."""
        now_ms = self.clock.now_ms()
        counts: dict[str, int] = {}
        for item in self.items(org_id):
            if visible is not None and not visible(item["queue_name"]):
                continue
            status = effective_status(item, now_ms)
            counts[status] = counts.get(status, 0) + 1
        return counts

    def active_per_queue(self, org_id: str) -> dict[str, int]:
        now_ms = self.clock.now_ms()
        counts: dict[str, int] = {}
        for item in self.items(org_id):
            if effective_status(item, now_ms) in ("healthy", "degraded"):
                counts[item["queue_name"]] = counts.get(item["queue_name"], 0) + 1
        return counts
