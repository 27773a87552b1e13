"""The minute sweep: every queue's due timers, stale workers, overdue cron schedules, and every
Lambda-worker queue.

It is the safety net of the timer messages (a lost message, a failed stream batch) and the only
timer of the stale-worker rule. Each part runs even when another fails, so one broken queue or
worker cannot stop the rest; the failure is logged and raised at the end for the alarm.

The queues come from the registry (shared/jobs/queues/registry.py), written by each queue's first
create, so a queue is swept even if the stream never delivered its first batch. The sweep pages
through it with a cursor (LIST_PAGE keys per query) and fans out: the first SWEEP_PAGE queues are
swept in this invocation, each following page goes as one message to the dispatch queue, which
the dispatcher consumes like its timer messages (timer_messages.py): each page is handled on its
own, a failed page comes back after the visibility timeout and, after max_receive_count tries,
lands in the dispatch dead-letter queue. Bound: the minute invocation itself does one keys-only
query per LIST_PAGE queues and one SendMessageBatch per 10 pages, ~3 s per 100,000 queues, far
inside the dispatcher's timeout; a page (SWEEP_PAGE queues, a promote_due query and a pump each)
takes a second or two.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from shared.jobs import timers as job_timers
from shared.jobs.queues import registry
from shared.jobs.store import JobStore
from shared.jobs.workers import stale as stale_workers
from shared.jobs.workers.lambda_workers import LambdaWorkers
from shared.plumbing.timer_queue import MessageSender, OutgoingMessage

logger = logging.getLogger("spooled.dispatcher")

# The backlog metrics are reported at most this often per container: once per sweep on AWS (every
# minute), and not every second in make dev, whose sweep loop runs each second.
BACKLOG_EVERY_MS = 55_000
_last_backlog_ms: int | None = None
LIST_PAGE = 1000  # registry keys per query (~100 bytes each: well under a query's 1 MB)
SWEEP_PAGE = 50  # queues per fanned-out page
PAGE_KIND = "sweep"


def page_message(queues: list[tuple[str, str]]) -> str:
    return json.dumps({"kind": PAGE_KIND, "queues": [list(q) for q in queues]}, separators=(",", ":"))


def page_of(body: str) -> list[tuple[str, str]] | None:
    """The queues of a sweep page message; None for any other message (a timer)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("kind") != PAGE_KIND:
        return None
    return [(str(org), str(queue)) for org, queue in document["queues"]]


def registered_queues(store: JobStore) -> list[tuple[str, str]]:
    queues: list[tuple[str, str]] = []
    cursor = None
    while True:
        found, cursor = registry.page(store.table, cursor, LIST_PAGE)
        queues.extend(found)
        if not cursor:
            return list(dict.fromkeys(queues))


def sweep_queues(
    store: JobStore, lambda_workers: LambdaWorkers, queues: list[tuple[str, str]]
) -> dict[str, Any]:
    """Due timers and Lambda-worker pumps of each queue, each on its own: one queue whose timers
    cannot be acted on (a throttled partition, a bad item) must not leave the others' due jobs
    waiting (issue 12, finding 9). Raises at the end if any failed."""
    moved = pushed = 0
    failures: list[str] = []
    for org_id, queue in queues:
        try:
            moved += job_timers.act_on_due_timers(store, org_id, queue)
        except Exception:
            logger.exception("timer sweep of queue %s failed", queue)
            failures.append(f"timers:{queue}")
        try:
            pushed += lambda_workers.pump(org_id, queue)
        except Exception:
            logger.exception("pumping Lambda-worker queue %s failed", queue)
            failures.append(f"lambda:{queue}")
    result = {"moved": moved, "lambda_jobs_started": pushed}
    if failures:
        raise RuntimeError(f"sweep parts failed: {', '.join(failures)} (result so far: {result})")
    return result


def run(store: JobStore, lambda_workers: LambdaWorkers, pages: MessageSender | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    failures: list[str] = []
    queues: list[tuple[str, str]] = []
    try:
        queues = registered_queues(store)
    except Exception:
        logger.exception("listing the queues failed")
        failures.append("queues")
    inline, rest = queues[:SWEEP_PAGE], queues[SWEEP_PAGE:]
    if rest:
        try:
            if pages is None:
                raise RuntimeError("no dispatch queue to fan the sweep out to")
            pages.send(
                [
                    OutgoingMessage(page_message(rest[i : i + SWEEP_PAGE]))
                    for i in range(0, len(rest), SWEEP_PAGE)
                ]
            )
            result["pages_sent"] = -(-len(rest) // SWEEP_PAGE)
        except Exception:
            logger.exception("fanning the sweep out failed; sweeping every queue here")
            inline = queues
    try:
        result.update(sweep_queues(store, lambda_workers, inline))
    except Exception as error:
        failures.append(str(error))
        result.setdefault("moved", 0)
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
