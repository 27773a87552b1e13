"""Jobs: creation, the claim and the worker protocol, timers, cancellation, retries (the queries
that find jobs are in reads.py). Transitions take their from-states from shared/jobs/states.py."""

from __future__ import annotations

from typing import Any

from shared.jobs.expressions.keys import idempotency_key, ready_pk, ready_sk, timer_pk
from shared.jobs.states import JobStatus, from_states
from shared.plumbing import dynamo_codec, schema
from shared.plumbing.table_keys import timer_sk
from shared.plumbing.update_builder import Update as _Update
from shared.plumbing.update_builder import history_event as _event

S = JobStatus
READY = schema.READY_INDEX
# The most history entries a job item keeps (~60 bytes each): see make_ready_again.
HISTORY_LIMIT = 64
TIMERS = schema.TIMER_INDEX


# --- job creation --------------------------------------------------------------------------


def put_new_job(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """`item` decoded, or already in DynamoDB's JSON form (a packed payload: JobStore.packed)."""
    # A UUID collision is astronomically unlikely, but an overwrite would lose a job silently.
    raw = item if isinstance(item.get("pk"), dict) else dynamo_codec.encode_item(item)
    return {
        "TableName": table,
        "Item": raw,
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def put_idempotency_claim(table: str, org_id: str, key: str, job_id: str, now_ms: int) -> dict[str, Any]:
    # Two creates with the same key race: the transaction that writes this item first wins, the
    # other is cancelled whole, so no second job is ever written.
    item = {
        **idempotency_key(org_id, key),
        **dynamo_codec.encode_item({"job_id": job_id, "created_at": now_ms}),
    }
    return {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}


# --- claim and the worker protocol ---------------------------------------------------------


def claim(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    queue: str,
    job_id: str,
    worker_id: str,
    lease_id: str,
    lease_expires_ms: int,
    now_ms: int,
    deadline_ms: int | None = None,
) -> dict[str, Any]:
    """pending → processing. The index read that found this job may be stale and other claimers
    read the same head: only the first conditional write still sees it pending and ready.
    deadline_ms (started + timeout_seconds) bounds every later lease extension (docs/timers.md)."""
    u = _Update()
    u.set("status", S.PROCESSING).set("assigned_worker_id", worker_id).set("lease_id", lease_id)
    u.set("lease_expires_at", lease_expires_ms).set("started_at", now_ms).set("updated_at", now_ms)
    u.set("deadline_at", deadline_ms)
    # A running job has no timers-index entry: its lease end travels as a delayed message armed
    # from this write's stream record (shared/jobs/timers.py), so a claim and a completion cost
    # no index writes there, and a heartbeat is one small write. An expiry timer the job had is
    # over: a started job cannot expire.
    u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    # No history event: started_at and assigned_worker_id are the attempt's "processing" entry
    # (shared/jobs/model.history_documents); a failure writes it down for good (_retry_later).
    u.remove(READY.partition_key.name, READY.sort_key.name).bump_version()
    u.status_in(from_states("claim"))
    u.condition(f"attribute_exists({u.n(READY.partition_key.name)})")
    # A job past its expires_at must never be handed out.
    u.condition(f"attribute_not_exists({u.n('expires_at')}) OR {u.n('expires_at')} > {u.v('now', now_ms)}")
    args = u.build(table, key)
    args["ReturnValues"] = "ALL_NEW"
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def _lease_fence(u: _Update, worker_id: str, lease_id: str | None, now_ms: int) -> None:
    """The caller must hold the current, unexpired lease. A late call from a worker whose lease
    ended (and whose job may already be someone else's) fails here and changes nothing."""
    u.status_in({S.PROCESSING})
    u.condition(f"{u.n('assigned_worker_id')} = {u.v('worker', worker_id)}")
    u.condition(f"{u.n('lease_expires_at')} > {u.v('now', now_ms)}")
    if lease_id is not None:
        u.condition(f"{u.n('lease_id')} = {u.v('lease', lease_id)}")


def _expired_lease_fence(u: _Update, seen_lease_id: str, seen_lease_end: int, now_ms: int) -> None:
    """Only the lease the lease check read, and only once it has ended: a heartbeat that extended
    it meanwhile changed lease_expires_at, and a new claim changed lease_id, so a late or
    duplicated check cannot take a live job away from its worker."""
    u.status_in({S.PROCESSING})
    u.condition(f"{u.n('lease_id')} = {u.v('seen_lease', seen_lease_id)}")
    u.condition(f"{u.n('lease_expires_at')} = {u.v('seen_lease_end', seen_lease_end)}")
    u.condition(f"{u.n('lease_expires_at')} <= {u.v('now', now_ms)}")


def complete(
    table: str,
    key: dict[str, Any],
    *,
    worker_id: str,
    lease_id: str | None,
    now_ms: int,
    result: str | None,
    result_ref: str | None,
) -> dict[str, Any]:
    u = _Update()
    u.set("status", S.COMPLETED).set("completed_at", now_ms).set("updated_at", now_ms)
    u.set("result", result).set("result_ref", result_ref)
    # No history event: completed_at is the "completed" entry (shared/jobs/model.history_documents).
    u.remove("lease_expires_at", TIMERS.partition_key.name, TIMERS.sort_key.name).bump_version()
    _lease_fence(u, worker_id, lease_id, now_ms)
    args = u.build(table, key)
    args["ReturnValues"] = "ALL_NEW"
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def heartbeat(
    table: str,
    key: dict[str, Any],
    *,
    job_id: str,
    worker_id: str,
    lease_id: str | None,
    lease_expires_ms: int,
    now_ms: int,
) -> dict[str, Any]:
    # An expired lease is never revived: the fence requires lease_expires_at > now. The new
    # lease end makes a lease check holding the old one miss (see _expired_lease_fence), and its
    # stream record arms the check of the new one. One write of the job item, no index.
    u = _Update()
    u.set("lease_expires_at", lease_expires_ms).set("updated_at", now_ms)
    _lease_fence(u, worker_id, lease_id, now_ms)
    # timeout_seconds: no extension past started_at + timeout. The deadline is read in the same
    # write, so a job cannot slip past it however its heartbeats interleave.
    deadline = u.n("deadline_at")
    u.condition(f"attribute_not_exists({deadline}) OR {deadline} >= {u.v('new_lease_end', lease_expires_ms)}")
    args = u.build(table, key)
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def attempt_event(item: dict[str, Any]) -> dict[str, Any] | None:
    """The "processing" history entry of the attempt a job item is in (None if it never started).
    Claims write no history; a transition that ends an attempt other than by completing writes
    this entry down, since the next claim overwrites started_at and assigned_worker_id."""
    started = item.get("started_at")
    if not started:
        return None
    return _event(started, "processing", item.get("assigned_worker_id"), lease_id=item.get("lease_id"))


def _retry_later(
    u: _Update,
    *,
    org_id: str,
    queue: str,
    job_id: str,
    retry_count: int,
    due_ms: int,
    error: str,
    now_ms: int,
    worker_id: str | None,
    attempt: dict[str, Any] | None = None,
) -> None:
    u.set("status", S.PENDING).set("retry_count", retry_count + 1).set("last_error", error)
    u.set("scheduled_at", due_ms).set("updated_at", now_ms)
    u.set(TIMERS.partition_key.name, timer_pk(org_id, queue))
    u.set(TIMERS.sort_key.name, timer_sk(due_ms, job_id))
    u.remove("lease_id", "lease_expires_at").bump_version()
    u.append_event(
        *([attempt] if attempt else []),
        _event(
            now_ms,
            "retry_scheduled",
            worker_id,
            error=error[:1024],
            retry_count=retry_count + 1,
            next_run=due_ms,
        ),
    )
    # The decision retry-or-deadletter was made from this retry_count: assert it still holds.
    u.condition(f"{u.n('retry_count')} = {u.v('seen_retry_count', retry_count)}")


def _dead_letter(
    u: _Update,
    *,
    org_id: str,
    retry_count: int,
    error: str,
    now_ms: int,
    worker_id: str | None,
    attempt: dict[str, Any] | None = None,
) -> None:
    u.set("status", S.DEADLETTER).set("last_error", error).set("completed_at", now_ms)
    u.set("updated_at", now_ms).set(schema.DEAD_LETTER_INDEX.partition_key.name, org_id)
    u.remove("lease_id", "lease_expires_at", TIMERS.partition_key.name, TIMERS.sort_key.name)
    u.bump_version()
    u.append_event(
        *([attempt] if attempt else []),
        _event(now_ms, "deadlettered", worker_id, error=error[:1024], total_retries=retry_count),
    )
    u.condition(f"{u.n('retry_count')} = {u.v('seen_retry_count', retry_count)}")


def fail_with_retry(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    queue: str,
    job_id: str,
    worker_id: str,
    lease_id: str | None,
    retry_count: int,
    due_ms: int,
    error: str,
    now_ms: int,
    attempt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    u = _Update()
    _retry_later(
        u,
        org_id=org_id,
        queue=queue,
        job_id=job_id,
        retry_count=retry_count,
        due_ms=due_ms,
        error=error,
        now_ms=now_ms,
        worker_id=worker_id,
        attempt=attempt,
    )
    _lease_fence(u, worker_id, lease_id, now_ms)
    args = u.build(table, key)
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def fail_to_dead_letter(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    worker_id: str,
    lease_id: str | None,
    retry_count: int,
    error: str,
    now_ms: int,
    attempt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    u = _Update()
    _dead_letter(
        u,
        org_id=org_id,
        retry_count=retry_count,
        error=error,
        now_ms=now_ms,
        worker_id=worker_id,
        attempt=attempt,
    )
    _lease_fence(u, worker_id, lease_id, now_ms)
    args = u.build(table, key)
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def expired_lease_retry(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    queue: str,
    job_id: str,
    seen_lease_id: str,
    seen_lease_end: int,
    retry_count: int,
    due_ms: int,
    error: str,
    now_ms: int,
    attempt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    u = _Update()
    _retry_later(
        u,
        org_id=org_id,
        queue=queue,
        job_id=job_id,
        retry_count=retry_count,
        due_ms=due_ms,
        error=error,
        now_ms=now_ms,
        worker_id=None,
        attempt=attempt,
    )
    _expired_lease_fence(u, seen_lease_id, seen_lease_end, now_ms)
    return u.build(table, key)


def expired_lease_dead_letter(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    seen_lease_id: str,
    seen_lease_end: int,
    retry_count: int,
    error: str,
    now_ms: int,
    attempt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    u = _Update()
    _dead_letter(
        u, org_id=org_id, retry_count=retry_count, error=error, now_ms=now_ms, worker_id=None, attempt=attempt
    )
    _expired_lease_fence(u, seen_lease_id, seen_lease_end, now_ms)
    return u.build(table, key)


# --- timers, cancellation, retries ---------------------------------------------------------


def promote(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    queue: str,
    job_id: str,
    priority: int,
    created_ms: int,
    shard: int,
    seen_timer_sk: str,
    now_ms: int,
    next_timer_sk: str | None = None,
) -> dict[str, Any]:
    """scheduled (or pending in backoff) → pending and claimable. timer_sk must be the one the
    index showed: if the job was rescheduled, cancelled or retried meanwhile, nothing happens.
    next_timer_sk, when the job has an expires_at still ahead, keeps it in the timers index for it."""
    u = _Update()
    u.set("status", S.PENDING).set("updated_at", now_ms)
    u.set(READY.partition_key.name, ready_pk(org_id, queue, shard))
    u.set(READY.sort_key.name, ready_sk(priority, created_ms, job_id))
    if next_timer_sk is None:
        u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    else:
        u.set(TIMERS.sort_key.name, next_timer_sk)
    u.bump_version()
    u.status_in(from_states("promote"))
    u.condition(f"{u.n(TIMERS.sort_key.name)} = {u.v('seen_timer', seen_timer_sk)}")
    return u.build(table, key)


def cancel(
    table: str, key: dict[str, Any], *, now_ms: int, reason: str | None = None, expired: bool = False
) -> dict[str, Any]:
    # A claim racing the cancel: whichever write lands first wins; the other's from-state is gone.
    u = _Update()
    u.set("status", S.CANCELLED).set("completed_at", now_ms).set("updated_at", now_ms)
    if reason:
        u.set("last_error", reason)
    u.remove(
        READY.partition_key.name, READY.sort_key.name, TIMERS.partition_key.name, TIMERS.sort_key.name
    ).bump_version()
    u.append_event(_event(now_ms, "expired" if expired else "cancelled"))
    u.status_in(from_states("expire" if expired else "cancel"))
    if expired:
        u.condition(f"{u.n('expires_at')} <= {u.v('now', now_ms)}")
    args = u.build(table, key)
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def make_ready_again(
    table: str,
    key: dict[str, Any],
    *,
    transition: str,
    org_id: str,
    queue: str,
    job_id: str,
    priority: int,
    created_ms: int,
    shard: int,
    retry_count: int,
    now_ms: int,
    expires_ms: int | None = None,
    history: list[dict[str, Any]] | None = None,
    seen_version: int | None = None,
) -> dict[str, Any]:
    """failed/deadletter → pending (manual retry or DLQ retry). Two operators retrying at once:
    the second finds the job no longer in its from-state. A job with an expires_at gets its
    expiry timer back (docs/timers.md).

    `history` (the job's entries as read, at version `seen_version`) is kept to its last
    HISTORY_LIMIT - 1 entries: retries by hand are the one thing that could grow a job's history
    without bound (automatic retries stop at max_retries, at most 100), and the item holds 400 KB.
    The list is then replaced whole, so the write asserts the version it was read at."""
    u = _Update()
    u.set("status", S.PENDING).set("retry_count", retry_count).set("updated_at", now_ms)
    u.set(READY.partition_key.name, ready_pk(org_id, queue, shard))
    u.set(READY.sort_key.name, ready_sk(priority, created_ms, job_id))
    if expires_ms is not None:
        u.set(TIMERS.partition_key.name, timer_pk(org_id, queue))
        u.set(TIMERS.sort_key.name, timer_sk(expires_ms, job_id))
    u.remove(
        "last_error",
        "completed_at",
        "scheduled_at",
        "result",
        "result_ref",
        schema.DEAD_LETTER_INDEX.partition_key.name,
    ).bump_version()
    retried = _event(now_ms, "retried", retry_count=retry_count)
    if history is not None and len(history) >= HISTORY_LIMIT and seen_version is not None:
        u.set("events", [*history[-(HISTORY_LIMIT - 1) :], retried])
        u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")
    else:
        u.append_event(retried)
    u.status_in(from_states(transition))
    args = u.build(table, key)
    args["ReturnValues"] = "ALL_NEW"
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def set_priority(
    table: str,
    key: dict[str, Any],
    *,
    priority: int,
    new_ready_sk: str | None,
    seen_version: int,
    now_ms: int,
) -> dict[str, Any]:
    """Read-modify-write: the ready sort key was computed from the version we read; a claim or
    cancel in between bumps the version and this write fails instead of re-inserting the job."""
    u = _Update()
    u.set("priority", priority).set("updated_at", now_ms)
    if new_ready_sk is not None:
        u.set(READY.sort_key.name, new_ready_sk)
    u.bump_version()
    u.status_in(from_states("set_priority"))
    u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")
    return u.build(table, key)


def delete_dead_letter(table: str, key: dict[str, Any]) -> dict[str, Any]:
    # Purge only what is still dead-lettered: a DLQ retry in between wins over the purge.
    return {
        "TableName": table,
        "Key": key,
        "ConditionExpression": "#status = :deadletter",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":deadletter": {"S": str(S.DEADLETTER)}},
    }
