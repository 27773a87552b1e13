"""GET /api/v1/dashboard/activity: the dashboard's charts, per minute over the last hour.

From what the dispatcher already keeps from the table's stream (shared/job_activity.py): the
1-minute activity buckets (jobs created, completed, failed, dead-lettered, and the net change of
each queue's pending and processing counts) and the queues' current counters
(shared/queue_counters.py). Depth at the end of a minute is the current count minus the changes
recorded after that minute, so no sampler has to run. Reads: one query of at most 60 items per
queue that was active in the hour, plus the counter items; no job is read. Like the counters it
is eventually consistent (a stream batch behind) and at-least-once, so depth is clamped at zero.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.identity.credentials import AuthContext
from shared.jobs.queues import activity as job_activity
from shared.jobs.queues import counters as queue_counters
from shared.plumbing.table_service import TableService

MINUTES = job_activity.LAST_HOUR_MINUTES  # the minutes GET /dashboard's recent_activity sums
INTERVAL_SECONDS = 60
FLOWS = ("created", "completed", "failed", "deadlettered")


def series(
    minutes: dict[int, dict[str, Counter[str]]],
    depth_now: dict[str, int],
    first_minute: int,
    count: int = MINUTES,
) -> list[dict[str, int]]:
    """One point per minute from `first_minute` (epoch s), oldest first. `minutes` holds only the
    visible queues' buckets; `depth_now` their current pending and processing totals."""
    points: list[dict[str, int]] = []
    for i in range(count):
        start = first_minute + i * INTERVAL_SECONDS
        summed: Counter[str] = Counter()
        for counts in minutes.get(start, {}).values():
            summed.update(counts)
        points.append(
            {
                "t": start,
                **{name: summed[name] for name in FLOWS},
                **{f"d_{status}": summed[f"d_{status}"] for status in job_activity.DEPTH_STATUSES},
            }
        )
    # Walk back from now: the depth at the end of a minute is what it is now minus what changed later.
    depth = {status: depth_now.get(status, 0) for status in job_activity.DEPTH_STATUSES}
    for point in reversed(points):
        for status in job_activity.DEPTH_STATUSES:
            point[status] = max(0, depth[status])
            depth[status] -= point.pop(f"d_{status}")
    return points


class ActivitySeries(TableService):
    def document(self, ctx: AuthContext, queue: str | None = None) -> dict[str, Any]:
        if queue is not None:
            ctx.require_visible(queue)  # another key's queue looks like no queue (404)

        def wanted(name: str) -> bool:
            return ctx.allows_queue(name) and (queue is None or name == queue)

        now_s = self.clock.now_ms() // 1000
        first = (now_s // INTERVAL_SECONDS - (MINUTES - 1)) * INTERVAL_SECONDS
        only = [queue] if queue is not None else None  # one queue: its partition alone
        raw = job_activity.read_minutes(self.table, ctx.org_id, first, now_s, only)
        minutes = {start: {q: c for q, c in by_queue.items() if wanted(q)} for start, by_queue in raw.items()}
        counts = queue_counters.read_counts(self.table, ctx.org_id, only)
        depth_now: Counter[str] = Counter()
        for name, by_status in counts.items():
            if wanted(name):
                depth_now.update({s: by_status.get(s, 0) for s in job_activity.DEPTH_STATUSES})
        return {
            "interval_seconds": INTERVAL_SECONDS,
            "queue_name": queue,
            "points": series(minutes, dict(depth_now), first),
        }
