"""GET /metrics: the deployment's job counts in Prometheus text format (exposition 0.0.4).

For the operator, across organizations (labelled by organization id, never by name). Read from
the queue counter items the stream maintains: the queue registry lists every queue (the by_org
index's QUEUES partition), and one BatchGetItem per 100 queues reads their counter items, each in
its queue's own partition. A registered queue the stream has not counted yet is not shown.
"""

from __future__ import annotations

from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.queues import registry as queue_registry
from shared.jobs.states import ALL_STATUSES
from shared.operations.dashboard import PROCESS_STARTED_MS
from shared.plumbing import table_service
from shared.plumbing.config import settings
from shared.plumbing.table_service import TableService

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_QUEUES = 10_000
COUNTERS = {
    # total attribute on the counter item → (metric name, help)
    "created_total": ("spooled_jobs_created_total", "Jobs created."),
    "claims_total": ("spooled_job_claims_total", "Jobs handed to a worker by a claim."),
    "completed_total": ("spooled_jobs_completed_total", "Jobs completed."),
    "failures_total": ("spooled_job_failures_total", "Failed attempts (retried or dead-lettered)."),
    "deadlettered_total": ("spooled_jobs_deadlettered_total", "Jobs that ended in the dead-letter queue."),
}


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in labels.items()) + "}"


def render(counter_items: list[dict[str, Any]], now_ms: int) -> str:
    """Prometheus text for the given queue counter items. Pure."""
    config = settings()
    rows = sorted(counter_items, key=lambda item: (item.get("org_id", ""), item.get("queue_name", "")))
    lines = [
        "# HELP spooled_info Build and environment of this deployment.",
        "# TYPE spooled_info gauge",
        f"spooled_info{_labels(version=config.version, environment=config.environment)} 1",
        "# HELP spooled_uptime_seconds Seconds since this API process started.",
        "# TYPE spooled_uptime_seconds gauge",
        f"spooled_uptime_seconds {max(0, (now_ms - PROCESS_STARTED_MS) // 1000)}",
        "# HELP spooled_queues Queues that have held a job.",
        "# TYPE spooled_queues gauge",
        f"spooled_queues {len(rows)}",
        "# HELP spooled_jobs Jobs by queue and status (kept from the table stream).",
        "# TYPE spooled_jobs gauge",
    ]
    for item in rows:
        for status in ALL_STATUSES:
            labels = _labels(organization_id=item["org_id"], queue=item["queue_name"], status=str(status))
            lines.append(f"spooled_jobs{labels} {max(0, int(item.get(str(status), 0)))}")
    for attribute, (metric, help_text) in COUNTERS.items():
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        for item in rows:
            labels = _labels(organization_id=item["org_id"], queue=item["queue_name"])
            lines.append(f"{metric}{labels} {max(0, int(item.get(attribute, 0)))}")
    return "\n".join(lines) + "\n"


class Metrics(TableService):
    def text(self) -> str:
        queues: dict[tuple[str, str], None] = {}
        cursor = None
        while len(queues) < MAX_QUEUES:
            page, cursor = queue_registry.page(self.table, cursor, limit=1_000)
            queues.update(dict.fromkeys(page))
            if not cursor:
                break
        keys = [ex.queue_counter_key(org_id, queue) for org_id, queue in list(queues)[:MAX_QUEUES]]
        return render(table_service.get_items(self.table, keys), self.clock.now_ms())
