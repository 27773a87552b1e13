"""GET /api/v1/dashboard (contract §2.2), from maintained counts only.

Reads: the organization's status counters and queue configs (two queries of its partition), the
activity buckets of the last 24 hours and the last hour, and its workers. No job is read. The
aggregates cover only the queues the caller's key may see (0.1.100).
"""

from __future__ import annotations

import time
from typing import Any

from shared.identity.credentials import AuthContext
from shared.jobs.queues import activity as job_activity
from shared.jobs.queues.config import QueueConfigService
from shared.jobs.states import ALL_STATUSES
from shared.jobs.workers.directory import WorkerDirectory
from shared.plumbing.clock import to_rfc3339
from shared.plumbing.config import settings
from shared.plumbing.table_service import TableService

PROCESS_STARTED_MS = int(time.time() * 1000)


def system_document(now_ms: int) -> dict[str, Any]:
    config = settings()
    return {
        "version": config.version,
        "uptime_seconds": max(0, (now_ms - PROCESS_STARTED_MS) // 1000),
        "started_at": to_rfc3339(PROCESS_STARTED_MS),
        # The reads below succeeded, so the table answered; there is no cache to be unhealthy.
        "database_status": "healthy",
        "cache_status": "healthy",
        "environment": config.environment,
    }


class Dashboard(TableService):
    def document(self, ctx: AuthContext) -> dict[str, Any]:
        now_ms = self.clock.now_ms()
        configs, counts = QueueConfigService(self.table, self.clock).overview(ctx.org_id)
        names = sorted(name for name in set(configs) | set(counts) if ctx.allows_queue(name))
        totals = dict.fromkeys(ALL_STATUSES, 0)
        for name in names:
            for status, n in counts.get(name, {}).items():
                totals[status] += n
        day = job_activity.last_24_hours(self.table, ctx.org_id, now_ms, names)
        hour = job_activity.last_hour(self.table, ctx.org_id, now_ms, names)
        workers = WorkerDirectory(self.table, self.clock).status_counts(ctx.org_id, ctx.allows_queue)
        live = sum(n for status, n in workers.items() if status != "offline")
        return {
            "system": system_document(now_ms),
            "jobs": {
                "total": sum(totals.values()),
                "pending": totals["pending"],
                "processing": totals["processing"],
                "completed_24h": job_activity.total(day, "completed", names),
                "failed_24h": job_activity.total(day, "deadlettered", names),
                "deadletter": totals["deadletter"],
                "avg_wait_time_ms": job_activity.average(day, "wait_ms", "wait_n", names),
                "avg_processing_time_ms": job_activity.average(day, "proc_ms", "proc_n", names),
            },
            "queues": [
                {
                    "name": name,
                    "pending": counts.get(name, {}).get("pending", 0),
                    "processing": counts.get(name, {}).get("processing", 0),
                    "paused": (configs.get(name) or {}).get("enabled") is False,
                }
                for name in names
            ],
            "workers": {
                "total": live,
                "healthy": workers.get("healthy", 0),
                "unhealthy": live - workers.get("healthy", 0),
            },
            "recent_activity": {
                "jobs_created_1h": job_activity.total(hour, "created", names),
                "jobs_completed_1h": job_activity.total(hour, "completed", names),
                "jobs_failed_1h": job_activity.total(hour, "deadlettered", names),
            },
        }
