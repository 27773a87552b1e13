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
from functools import lru_cache
from typing import Any

from shared.jobs import lifecycle_metrics
from shared.jobs import timers as job_timers
from shared.jobs.queues import activity as job_activity
from shared.jobs.queues import counters as queue_counters
from shared.jobs.store import JobStore
from shared.jobs.workers import registry as worker_registry
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


def handle_stream(records: list[dict[str, Any]]) -> None:
    deltas = queue_counters.deltas_from_records(records)
    if deltas:
        queue_counters.apply_deltas(store().table, deltas, store().clock.now_ms())
    job_activity.record_batch(store().table, records)  # time buckets, totals, worker counts
    try:  # concurrency slots of jobs that stopped processing (docs/flow-control.md)
        from shared.jobs.flow_control import caps_from

        flow_control().release_from_records(records, caps_from(store().queue_settings))
    except Exception:
        logger.exception("releasing flow-control slots failed; the claim path repairs leaked ones")
    lifecycle_metrics.record_batch(records)  # JobsCreated, JobsClaimed... (EMF, flushed by the handler)
    # Each worker's set of held jobs: how an offline worker's jobs are found (no index of them).
    worker_registry.track_leases(store().table, records)
    # Timers and Lambda pumps come last and never fail the batch: a retried batch would count
    # the counters twice, and whatever is missed here the minute sweep finds in the index.
    try:
        timer_queue().arm(job_timers.timers_to_arm(records, store().clock.now_ms()))
    except Exception:
        logger.exception("arming timers from a stream batch failed; the sweep will cover them")
    try:
        schedule_arming.arm_all(schedule_arming.schedules_to_arm(records), store().clock.now_ms())
    except Exception:
        logger.exception("arming cron schedules failed; the sweep fires them once overdue")
    try:
        from shared.plumbing import change_events
        from shared.webhooks.outgoing import fanout as webhook_fanout

        webhook_fanout.fan_out(change_events.events_from_records(records))
    except Exception:
        # Lost, not retried: a retried batch would count the counters twice (see above).
        logger.exception("queueing outgoing webhook deliveries for a stream batch failed")
    try:
        from shared.workflows import stream as job_dependencies

        job_dependencies.on_stream_batch(store(), records)  # release / cascade, workflow status
    except Exception:
        logger.exception("dependency releases of a stream batch failed; the workflow sweep re-checks")
    for org_id, queue in job_timers.queues_to_pump(records):
        try:
            lambda_workers().pump(org_id, queue)
        except Exception:
            logger.exception("pumping Lambda-worker queue %s failed; the sweep will retry", queue)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    observability.begin(context)
    try:
        return _handle(event, context)
    finally:
        observability.flush()


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sweep"):
        from functions.dispatcher import sweep

        return sweep.run(store(), lambda_workers())
    records = event.get("Records") or []
    if records and all(r.get("eventSource") == "aws:sqs" for r in records):
        from functions.dispatcher import timer_messages

        return timer_messages.handle(event, context, store(), timer_queue())
    stream_records = [r for r in records if r.get("eventSource") == "aws:dynamodb"]
    if stream_records:
        # A stream batch is handled as a whole: its first record's event id names it in the logs.
        observability.begin(context, stream_records[0].get("eventID"))
        handle_stream(stream_records)
    return {"batchItemFailures": []}
