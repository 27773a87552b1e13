"""The minute sweep: every queue's due timers, stale workers, overdue cron schedules, and every
Lambda-worker queue.

It is the safety net of the timer messages (a lost message, a failed stream batch) and the only
timer of the stale-worker rule. Each part runs even when another fails, so one broken queue or
worker cannot stop the rest; the failure is logged and raised at the end for the alarm.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.jobs import timers as job_timers
from shared.jobs.store import JobStore
from shared.jobs.workers import stale as stale_workers
from shared.jobs.workers.lambda_workers import LambdaWorkers

logger = logging.getLogger("spooled.dispatcher")

# The backlog metrics are reported at most this often per container: once per sweep on AWS (every
# minute), and not every second in make dev, whose sweep loop runs each second.
BACKLOG_EVERY_MS = 55_000
_last_backlog_ms: int | None = None


def run(store: JobStore, lambda_workers: LambdaWorkers) -> dict[str, Any]:
    result: dict[str, Any] = {}
    failures: list[str] = []
    queues: list[tuple[str, str]] = []
    try:
        queues = list(job_timers.known_queues(store))
    except Exception:
        logger.exception("listing the queues failed")
        failures.append("queues")
    # Queue by queue: one queue whose timers cannot be acted on (a throttled partition, a bad item)
    # must not leave every later queue's due jobs waiting (issue 12, finding 9).
    moved = 0
    for org_id, queue in queues:
        try:
            moved += job_timers.act_on_due_timers(store, org_id, queue)
        except Exception:
            logger.exception("timer sweep of queue %s failed", queue)
            failures.append(f"timers:{queue}")
    result["moved"] = moved
    try:
        outcome = stale_workers.sweep(store)
        result["workers_offline"] = outcome.marked_offline
        result["jobs_released"] = outcome.jobs_released
    except Exception:
        logger.exception("stale-worker sweep failed")
        failures.append("stale_workers")
    try:
        result["schedules_fired"] = _overdue_schedules(store)
    except Exception:
        logger.exception("overdue-schedule sweep failed")
        failures.append("schedules")
    try:
        from shared.workflows.service import WorkflowService

        result["workflows_checked"] = WorkflowService(store).check_open()
    except Exception:
        logger.exception("open-workflow check failed")
        failures.append("workflows")
    pushed = 0
    for org_id, queue in queues:
        try:
            pushed += lambda_workers.pump(org_id, queue)
        except Exception:
            logger.exception("pumping Lambda-worker queue %s failed", queue)
            failures.append(f"lambda:{queue}")
    result["lambda_jobs_started"] = pushed
    try:
        _report_backlog(store, queues)
    except Exception:
        logger.exception("measuring the pending backlog failed")
        failures.append("backlog")
    if failures:
        raise RuntimeError(f"sweep parts failed: {', '.join(failures)} (result so far: {result})")
    return result


def _report_backlog(store: JobStore, queues: list[tuple[str, str]]) -> None:
    """PendingJobs and OldestPendingJobAgeSeconds, every minute (the backlog alarm reads them)."""
    from shared.jobs.queues import backlog
    from shared.plumbing import observability as obs

    global _last_backlog_ms
    now_ms = store.clock.now_ms()
    if _last_backlog_ms is not None and 0 <= now_ms - _last_backlog_ms < BACKLOG_EVERY_MS:
        return
    _last_backlog_ms = now_ms
    found = backlog.measure(store.table, queues, store.shards, now_ms)
    obs.gauge(obs.PENDING_JOBS, found.pending)
    obs.gauge(obs.OLDEST_PENDING_AGE, found.oldest_pending_age_ms / 1000, unit="Seconds")


def _overdue_schedules(store: JobStore) -> dict[str, int]:
    """Cron fires whose message was lost or never armed (shared/schedules/fires.py)."""
    from shared.schedules.fires import ScheduleFirer
    from shared.schedules.store import ScheduleStore

    return ScheduleFirer(ScheduleStore(store.table, store.clock)).fire_overdue()
