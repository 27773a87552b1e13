"""A schedule fires: make its job, record the run, move on to the next fire (contract §3.9).

A fire is named by (schedule, fire_ms) and may be delivered any number of times, by an SQS message,
an EventBridge wake-up or the sweep. It takes effect once:
- a delivery whose fire_ms is no longer the schedule's next_run (moved on, paused, re-timed,
  deleted) is stale and dropped before anything is written;
- the job is created with the idempotency key `schedule:{id}:{fire_ms}`, so two deliveries that
  both got past the check above make one job;
- the run row (its id derived from the fire) and the move of next_run are one transaction
  conditional on next_run_ms = fire_ms: one delivery records the fire, the others find it done.

Manual triggers (POST /schedules/{id}/trigger) go through `run_now`: a job and a run, next_run
untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from shared.identity.credentials import AuthContext
from shared.identity.organizations import organization_active
from shared.plumbing import observability
from shared.plumbing.clock import Clock
from shared.plumbing.errors import SpooledError, ValidationFailed
from shared.schedules import policy
from shared.schedules.arming import FireMessage, ScheduleTimer, rechain
from shared.schedules.model import cron_run_id, fire_idempotency_key, run_item
from shared.schedules.store import RunOutcome, ScheduleStore

logger = logging.getLogger("spooled.schedules")

# The sweep fires a schedule this overdue: its message was lost or its arming failed. Below
# this a late message may still be on its way (the stream and SQS add seconds, not minutes).
OVERDUE_GRACE_MS = 90_000

# A fire acted on more than this after its time counts as late (ScheduleFiresLate): a timer message
# lands within about a second, so later means a lost message that the sweep caught, or a backlog.
LATE_AFTER_MS = 10_000
# Fires the catch-up rule skipped (ScheduleFiresMissed) are counted up to this many per fire.
MISSED_COUNT_LIMIT = 1_000

# Edits that leave the fire due, each landing between a read and the write (see _record).
RECORD_ATTEMPTS = 3

Sleep = Callable[[float], None]
JobMaker = Callable[[dict[str, Any], str | None], str]


class FireResult(StrEnum):
    FIRED = "fired"  # a job was made (or the failure to make one recorded) and next_run moved
    STALE = "stale"  # not the schedule's next fire any more: dropped
    RESENT = "resent"  # arrived too early: sent again, delayed toward the fire
    DUPLICATE = "duplicate"  # another delivery of this fire recorded it first
    RECORDED_WITHOUT_ADVANCE = "recorded_without_advance"  # an edit moved next_run meanwhile
    GONE = "gone"  # deleted while firing


@dataclass
class RunResult:
    job_id: str | None
    error: SpooledError | None
    at_ms: int


def default_job_maker(schedule: dict[str, Any], idempotency_key: str | None) -> str:
    """The job of a fire, made through the job service exactly as POST /jobs makes one: the
    same payload limits, defaults and idempotency. Raises SpooledError when it cannot."""
    from pydantic import ValidationError

    from shared.jobs import requests as m

    body: dict[str, Any] = {
        "queue_name": schedule["queue_name"],
        "payload": _json(schedule.get("payload_template")),
        "priority": schedule["priority"],
        "max_retries": schedule["max_retries"],
        "timeout_seconds": schedule["timeout_seconds"],
        "tags": _json(schedule.get("tags")),
    }
    if idempotency_key:
        body["idempotency_key"] = idempotency_key
    try:
        request = m.CreateJob.model_validate(body)
    except ValidationError as error:
        raise ValidationFailed(f"The schedule's job is not valid: {error.errors()[0]['msg']}") from None
    # The schedule's own authority: its queue was checked against the creating key's scope.
    ctx = AuthContext(org_id=schedule["org_id"], api_key_id=f"schedule:{schedule['id']}")
    document, _ = _job_service().create(ctx, request)
    return str(document["id"])


@lru_cache(maxsize=1)
def _job_service() -> Any:
    from shared.jobs.service import JobService

    return JobService()


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _still_due(schedule: dict[str, Any] | None, fire_ms: int) -> bool:
    """Whether a fire message is still the schedule's next fire (else it is stale)."""
    return schedule is not None and bool(schedule.get("is_active")) and schedule.get("next_run_ms") == fire_ms


class ScheduleFirer:
    def __init__(
        self,
        store: ScheduleStore | None = None,
        make_job: JobMaker = default_job_maker,
        resend: Callable[[ScheduleTimer, int], Any] = rechain,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.store = store or ScheduleStore()
        self.make_job = make_job
        self.resend = resend
        self.sleep = sleep

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def fire(self, message: FireMessage) -> FireResult:
        schedule = self.store.get(message.org_id, message.schedule_id)
        if schedule is None or not _still_due(schedule, message.fire_ms):
            return FireResult.STALE
        if not organization_active(self.store.table, message.org_id):
            # A soft-deleted organization's schedules stop firing (issue 12, finding 9); its data
            # stays for the record until an operator deletes it for good.
            return FireResult.STALE
        now_ms = self.clock.now_ms()
        when = policy.timing(message.fire_ms, now_ms)
        if when is policy.Timing.TOO_EARLY:
            self.resend(ScheduleTimer(message.org_id, message.schedule_id, message.fire_ms), now_ms)
            return FireResult.RESENT
        if when is policy.Timing.HOLD:
            self.sleep((message.fire_ms - now_ms) / 1000)
        run, _ = self._run(
            schedule,
            run_id=cron_run_id(schedule["id"], message.fire_ms),
            at_ms=message.fire_ms,
            source="cron",
            idempotency_key=fire_idempotency_key(schedule["id"], message.fire_ms),
        )
        outcome = self._record(run, schedule, message.fire_ms)
        if outcome in (RunOutcome.RECORDED, RunOutcome.SCHEDULE_CHANGED):
            self._count_fire(schedule, message.fire_ms, now_ms)
        if outcome is RunOutcome.SCHEDULE_CHANGED:
            # The job exists: the fire happened, so it is on the record, but next_run belongs
            # to the edit that moved it.
            outcome = self.store.record_run(run)
            if outcome is RunOutcome.RECORDED:
                return FireResult.RECORDED_WITHOUT_ADVANCE
        return {
            RunOutcome.RECORDED: FireResult.FIRED,
            RunOutcome.DUPLICATE: FireResult.DUPLICATE,
        }.get(outcome, FireResult.GONE)

    def _record(self, run: dict[str, Any], schedule: dict[str, Any], fire_ms: int) -> RunOutcome:
        """Record the fire and move next_run on, computed from the schedule as it is now. An edit
        since the read that left this fire due (a rename, or a new cron or zone whose next run
        is this fire) is read again, else the run after this one would follow the old cron.
        SCHEDULE_CHANGED only when the fire is no longer due (paused, re-timed, deleted)."""
        for _ in range(RECORD_ATTEMPTS):
            outcome = self.store.record_fire(
                run,
                fire_ms=fire_ms,
                next_run_ms=self._next_run(schedule, fire_ms),
                seen_version=int(schedule.get("version", 0)),
            )
            if outcome is not RunOutcome.SCHEDULE_CHANGED:
                return outcome
            fresh = self.store.get(schedule["org_id"], schedule["id"])
            if fresh is None or not _still_due(fresh, fire_ms):
                return outcome
            schedule = fresh
        # Retried as a whole with the message: the run is not written, so the fire is still due.
        raise RuntimeError(f"schedule {schedule['id']} kept changing while fire {fire_ms} was recorded")

    def run_now(self, schedule: dict[str, Any]) -> RunResult:
        """A manual trigger: a job now, a run with source "manual", next_run untouched."""
        now_ms = self.clock.now_ms()
        run, error = self._run(
            schedule, run_id=str(uuid.uuid4()), at_ms=now_ms, source="manual", idempotency_key=None
        )
        self.store.record_run(run)
        return RunResult(job_id=run.get("job_id"), error=error, at_ms=now_ms)

    def fire_overdue(self, limit: int = 500) -> dict[str, int]:
        """The safety net (the minute sweep): fire every schedule more than OVERDUE_GRACE_MS past
        its next run. Each goes through `fire`, so a message arriving at the same moment is harmless."""
        tally: dict[str, int] = {}
        now_ms = self.clock.now_ms()
        for overdue in self.store.overdue(now_ms - OVERDUE_GRACE_MS, limit):
            message = FireMessage(overdue.org_id, overdue.schedule_id, overdue.fire_ms)
            try:
                result = self.fire(message)
            except Exception:
                logger.exception("firing overdue schedule %s failed", overdue.schedule_id)
                result = None
            name = str(result) if result else "error"
            tally[name] = tally.get(name, 0) + 1
        return tally

    # --- parts ---------------------------------------------------------------------------

    def _run(
        self,
        schedule: dict[str, Any],
        *,
        run_id: str,
        at_ms: int,
        source: str,
        idempotency_key: str | None,
    ) -> tuple[dict[str, Any], SpooledError | None]:
        """The run item of one attempt to make the schedule's job, and the error if it failed."""
        job_id: str | None = None
        failure: SpooledError | None = None
        try:
            job_id = self.make_job(schedule, idempotency_key)
        except SpooledError as error:
            # The client-side reasons a job cannot be made (size, quota, validation) are the
            # run's outcome, not a crash: recorded as a failed run, and the schedule moves on.
            failure = error
        run = run_item(
            schedule,
            run_id=run_id,
            at_ms=at_ms,
            source=source,
            job_id=job_id,
            error_message=failure.message if failure else None,
            now_ms=self.clock.now_ms(),
        )
        return run, failure

    def _count_fire(self, schedule: dict[str, Any], fire_ms: int, now_ms: int) -> None:
        """ScheduleFiresOnTime or ScheduleFiresLate, and ScheduleFiresMissed for the fires between
        this one and now that catch-up skips (policy.next_after_fire)."""
        late = now_ms - fire_ms > LATE_AFTER_MS
        observability.count(
            observability.SCHEDULE_FIRES_LATE if late else observability.SCHEDULE_FIRES_ON_TIME
        )
        if not late:
            return
        try:
            compiled = policy.compile_cron(schedule["cron_expression"], schedule["timezone"])
        except SpooledError:
            return
        missed, at = 0, fire_ms
        while missed < MISSED_COUNT_LIMIT:
            following = policy.next_fire_ms(compiled, at)
            if following is None or following > now_ms:
                break
            missed, at = missed + 1, following
        observability.count(observability.SCHEDULE_FIRES_MISSED, missed)

    def _next_run(self, schedule: dict[str, Any], fire_ms: int) -> int | None:
        try:
            compiled = policy.compile_cron(schedule["cron_expression"], schedule["timezone"])
        except SpooledError:
            logger.error("schedule %s has an expression that no longer parses", schedule["id"])
            return None
        return policy.next_after_fire(compiled, fire_ms, self.clock.now_ms())
