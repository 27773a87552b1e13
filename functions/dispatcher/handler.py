"""The dispatcher Lambda: the table's stream, timer messages from the dispatch queue, the sweep.

Three event sources reach it (stacks/dispatcher.py), told apart by the event's shape:
  {"sweep": true}                 EventBridge Scheduler, every minute  → sweep.run
  Records from aws:sqs            the dispatch queue (timer messages)  → timer_messages.handle
  Records from aws:dynamodb       the jobs table's stream              → handle_stream
`make dev` drives the same function from local_stack/stream_poller.py, local_stack/dispatch_loop.py
and the runtime's sweep loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from shared.jobs import lifecycle_metrics
from shared.jobs import timers as job_timers
from shared.jobs.queues import stream_apply
from shared.jobs.store import JobStore
from shared.jobs.workers.lambda_workers import LambdaWorkers
from shared.plumbing import observability
from shared.plumbing.config import settings
from shared.plumbing.timer_queue import SqsSender, TimerQueue
from shared.schedules import arming as schedule_arming

logger = logging.getLogger("spooled.dispatcher")


@lru_cache(maxsize=1)
def store() -> JobStore:
    return JobStore()


@lru_cache(maxsize=1)
def flow_control() -> Any:
    from shared.jobs.flow_control import FlowControl  # only where the stream is handled

    return FlowControl(store().table, store().clock)


@lru_cache(maxsize=1)
def timer_queue() -> TimerQueue:
    return TimerQueue(SqsSender(settings().dispatch_queue_url), store().clock)


@lru_cache(maxsize=1)
def lambda_workers() -> LambdaWorkers:
    return LambdaWorkers(store(), SqsSender(settings().lambda_worker_queue_url))


# --- the stream ------------------------------------------------------------------------------
# Every side effect of a batch is retried until it succeeds: none is dropped. Each is idempotent,
# so doing one again for records that already had it is harmless: a timer wake acts through
# conditional transitions, a cron fire is idempotent on (schedule, fire time), a webhook delivery
# is claimed per (delivery id derived from the record's eventID, attempt), a dependency release
# asserts the gated state, a pump claims through the store, a slot release is conditional on the
# holder. The counters are the exception, made exact by the stream marks (stream_apply).


def _release_slots(records: list[dict[str, Any]]) -> None:
    """Concurrency slots of jobs that stopped processing (docs/flow-control.md)."""
    from shared.jobs.flow_control import caps_from

    flow_control().release_from_records(records, caps_from(store().queue_settings))


def _arm_timers(records: list[dict[str, Any]]) -> None:
    timer_queue().arm(job_timers.timers_to_arm(records, store().clock.now_ms()))


def _arm_schedules(records: list[dict[str, Any]]) -> None:
    schedule_arming.arm_all(schedule_arming.schedules_to_arm(records), store().clock.now_ms())


def _fan_out_webhooks(records: list[dict[str, Any]]) -> None:
    from shared.plumbing import change_events
    from shared.webhooks.outgoing import fanout as webhook_fanout

    webhook_fanout.fan_out(change_events.events_from_records(records))


def _settle_dependencies(records: list[dict[str, Any]]) -> None:
    from shared.workflows import stream as job_dependencies

    job_dependencies.on_stream_batch(store(), records)  # release / cascade, workflow status


def _pump_lambda_workers(records: list[dict[str, Any]]) -> None:
    failed = []
    for org_id, queue in job_timers.queues_to_pump(records):
        try:
            lambda_workers().pump(org_id, queue)
        except Exception:
            logger.exception("pumping Lambda-worker queue %s failed", queue)
            failed.append(queue)
    if failed:
        raise RuntimeError(f"pumping Lambda-worker queues failed: {', '.join(failed)}")


SideEffect = Callable[[list[dict[str, Any]]], None]
SIDE_EFFECTS: dict[str, SideEffect] = {
    "release_slots": _release_slots,
    "arm_timers": _arm_timers,
    "arm_schedules": _arm_schedules,
    "fan_out_webhooks": _fan_out_webhooks,
    "settle_dependencies": _settle_dependencies,
    "pump_lambda_workers": _pump_lambda_workers,
}


# --- the time budget -------------------------------------------------------------------------
# Without bisection, a batch whose side effects outlast the invocation would be retried whole from
# the same first record, time out again, and after the mapping's retries go to the failure queue
# with its side effects and its counts. So, given Lambda's context, the handler runs the side
# effects over slices of the batch and stops taking records while it still has time to commit the
# counters of the prefix it did (the path of a failed side effect: apply that prefix, report the
# next record), so each invocation moves the shard on.
# The margin is what must still fit after the last slice: reading the marks and the workers to
# credit, one TransactWriteItems per queue of the prefix (a 1,000-record batch may span dozens of
# queues, ~10-30 ms each, more with a conflict retry or a throttled call's backoff), the EMF
# metrics and the log flush. 5 s covers that with room for botocore's retry backoff; 10% of the
# time the invocation started with (12 s of the dispatcher's 120 s) keeps it in proportion if the
# timeout and batch size grow together. It never takes more than half that time, so a function
# with a short timeout still makes progress.
MARGIN_FLOOR_MS = 5_000
MARGIN_SHARE = 0.1
# The first slice, before the handler knows how long a record takes; later slices are sized from
# the slowest time per record seen, to fit in half of the time left. A batch that runs fast is
# thus two slices (each side effect called twice, not once); a slow one is cut where it must be.
FIRST_SLICE = 10


class Budget:
    """The time an invocation may still spend on side effects: what Lambda's context says is
    left, less the margin kept for committing the prefix."""

    def __init__(self, remaining_ms: Callable[[], int]) -> None:
        self.remaining_ms = remaining_ms
        at_start = remaining_ms()
        self.margin_ms = min(max(MARGIN_FLOOR_MS, int(at_start * MARGIN_SHARE)), at_start // 2)

    @classmethod
    def of(cls, context: Any) -> Budget | None:
        """None without a Lambda context (tests, `make dev`'s poller): no budget, the batch whole."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining) if callable(remaining) else None

    def left_ms(self) -> int:
        return self.remaining_ms() - self.margin_ms


def _first_failure(name: str, records: list[dict[str, Any]], budget: Budget | None = None) -> int:
    """How many records, from the first, had this side effect: all of them on the batch call (the
    usual case, one call for the batch); after a failure, record by record in order, to name the
    first record it fails on (a poison record, or one whose target is down), or the record where
    the budget ran out (a slow target, one record at a time, must not outlast the invocation)."""
    if not records:
        return 0
    try:
        SIDE_EFFECTS[name](records)
        return len(records)
    except Exception:
        logger.exception("side effect %s failed on a stream batch; trying record by record", name)
    for index, record in enumerate(records):
        if budget is not None and budget.left_ms() <= 0:
            logger.warning("out of time retrying side effect %s record by record", name)
            return index
        try:
            SIDE_EFFECTS[name]([record])
        except Exception:
            logger.exception("side effect %s failed on stream record %s", name, record.get("eventID"))
            return index
    return len(records)


def _side_effects_of(records: list[dict[str, Any]], budget: Budget | None) -> int:
    """How many records, from the first, had every side effect."""
    done = len(records)
    for name in SIDE_EFFECTS:
        done = min(done, _first_failure(name, records[:done], budget))
    return done


def _side_effects(records: list[dict[str, Any]], budget: Budget | None) -> int:
    """How many records, from the first, had every side effect: the whole batch in one slice
    without a budget; with one, slice by slice until a side effect fails or the time left would
    not cover the next record at the slowest pace seen."""
    if budget is None:
        return _side_effects_of(records, None)
    done, size, slowest_ms = 0, FIRST_SLICE, 0.0
    while done < len(records):
        left = budget.left_ms()
        if left <= 0 or left < slowest_ms:
            logger.warning(
                "stream batch: out of time after %d of %d records; reporting the next", done, len(records)
            )
            return done
        if done:
            size = max(1, int(left / 2 / slowest_ms))
        piece = records[done : done + size]
        started = budget.remaining_ms()
        had = _side_effects_of(piece, budget)
        done += had
        if had < len(piece):
            return done
        # At least 1 ms a slice: the context counts whole milliseconds, and a slice with nothing to
        # do can take less; a pace of 0 would keep every later slice at its first size.
        spent_ms = max(1, started - budget.remaining_ms())
        slowest_ms = max(slowest_ms, spent_ms / len(piece))
    return done


def handle_stream(records: list[dict[str, Any]], context: Any = None) -> dict[str, Any]:
    """One stream batch; returns the partial batch response. The first record whose side effects
    failed, or that the invocation had no time left for (see Budget), is reported: Lambda (and
    local_stack/stream_poller.py) restart the shard there, until it succeeds or its retries run out
    and it goes to the stream-failure queue. Counters and activity are applied for the records
    before it only, once each (shared/jobs/queues/stream_apply.py)."""
    if not records:
        return {"batchItemFailures": []}
    done = _side_effects(records, Budget.of(context))
    try:
        stream_apply.apply(store().table, records[:done], store().clock.now_ms())
    except Exception:
        # Nothing of this delivery is lost: the marks say which queues were applied, so the whole
        # batch, retried from its first record (the same marks), applies the rest.
        logger.exception("applying the counters of a stream batch failed; retrying it whole")
        done = 0
    lifecycle_metrics.record_batch(records[:done])  # JobsCreated, JobsClaimed... (EMF, at-least-once)
    if done == len(records):
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": stream_apply.sequence(records[done])}]}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    observability.begin(context)
    try:
        return _handle(event, context)
    finally:
        observability.flush()


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sweep"):
        from functions.dispatcher import sweep

        return sweep.run(store(), lambda_workers(), SqsSender(settings().dispatch_queue_url))
    records = event.get("Records") or []
    if records and all(r.get("eventSource") == "aws:sqs" for r in records):
        from functions.dispatcher import timer_messages

        return timer_messages.handle(event, context, store(), timer_queue(), lambda_workers=lambda_workers())
    stream_records = [r for r in records if r.get("eventSource") == "aws:dynamodb"]
    if stream_records:
        # A stream batch is handled as a whole: its first record's event id names it in the logs.
        observability.begin(context, stream_records[0].get("eventID"))
        return handle_stream(stream_records, context)
    return {"batchItemFailures": []}
