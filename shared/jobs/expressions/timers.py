"""Timers, stale workers and Lambda workers (docs/timers.md)."""

from __future__ import annotations

from typing import Any

from shared.jobs.expressions.keys import ready_pk, ready_sk, worker_key
from shared.jobs.expressions.lifecycle import _dead_letter, _retry_later
from shared.jobs.states import JobStatus
from shared.plumbing import dynamo_codec, schema
from shared.plumbing.update_builder import Update as _Update
from shared.plumbing.update_builder import history_event as _event

S = JobStatus
READY = schema.READY_INDEX
TIMERS = schema.TIMER_INDEX


# Keys of this module:
#   live-worker registry  timers index partition LIVE_WORKERS, sort {worker_id} (worker items)
#   Lambda-worker slots   pk LAMBDA#{org}#{queue}   sk SLOTS   slots: {job_id: lease end ms}
#   far-timer hop ledger  pk TIMERHOP#{org}#{job_id}   sk {timer_sk}   hop (TTL expires_ttl)

LIVE_WORKERS_PARTITION = "LIVE_WORKERS"


def far_timer_hop_key(org_id: str, job_id: str, timer_sk: str) -> dict[str, Any]:
    return {"pk": {"S": f"TIMERHOP#{org_id}#{job_id}"}, "sk": {"S": timer_sk}}


def claim_far_timer_hop(
    table: str, org_id: str, job_id: str, timer_sk: str, *, hop: int, expires_s: int
) -> dict[str, Any]:
    """The ledger of a re-chained timer. SQS may deliver a hop twice and Lambda may retry the event:
    only the first delivery of hop n passes this condition, so exactly one chain sends hop n + 1
    (a fork would double on every duplicate). TTL removes the ledger after the due time."""
    return {
        "TableName": table,
        "Key": far_timer_hop_key(org_id, job_id, timer_sk),
        "UpdateExpression": "SET hop = :hop, expires_ttl = :ttl",
        "ConditionExpression": "attribute_not_exists(hop) OR hop < :hop",
        "ExpressionAttributeValues": dynamo_codec.encode_values({":hop": hop, ":ttl": expires_s}),
    }


def lambda_slots_key(org_id: str, queue: str) -> dict[str, Any]:
    # Its own partition per queue: every pushed job takes and frees a slot (2 writes), which under
    # ORG#{org} would have capped all of an organization's Lambda-worker queues together near
    # 500 jobs/s. No stream reader's filter names LAMBDA#, so the slots reach neither.
    return {"pk": {"S": f"LAMBDA#{org_id}#{queue}"}, "sk": {"S": "SLOTS"}}


def _held_lease_fence(u: _Update, worker_id: str, lease_id: str) -> None:
    """Exactly the lease that was seen, whether or not it has run out: a job that was completed,
    failed or re-claimed in between has another lease id (or none) and is left alone."""
    u.status_in({S.PROCESSING})
    u.condition(f"{u.n('assigned_worker_id')} = {u.v('worker', worker_id)}")
    u.condition(f"{u.n('lease_id')} = {u.v('lease', lease_id)}")


def offline_worker_retry(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    queue: str,
    job_id: str,
    worker_id: str,
    lease_id: str,
    retry_count: int,
    due_ms: int,
    error: str,
    now_ms: int,
    attempt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """processing → pending (backoff) for a job whose worker went offline. A sweep running twice, or
    the worker's own late fail, meets a job whose lease id moved on: one of them wins, once."""
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
    _held_lease_fence(u, worker_id, lease_id)
    return u.build(table, key)


def offline_worker_dead_letter(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    worker_id: str,
    lease_id: str,
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
    _held_lease_fence(u, worker_id, lease_id)
    return u.build(table, key)


def release_unstarted(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    queue: str,
    job_id: str,
    worker_id: str,
    lease_id: str,
    priority: int,
    created_ms: int,
    shard: int,
    next_timer_sk: str | None,
    now_ms: int,
    attempt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """processing → pending and claimable again, retry_count unchanged: the job was claimed for a
    Lambda worker that had no free concurrency slot, so it never ran. Fenced on the lease id, so
    a release that arrives twice (or after the job moved on) changes nothing."""
    u = _Update()
    u.set("status", S.PENDING).set("updated_at", now_ms)
    u.set(READY.partition_key.name, ready_pk(org_id, queue, shard))
    u.set(READY.sort_key.name, ready_sk(priority, created_ms, job_id))
    if next_timer_sk is None:
        u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    else:
        u.set(TIMERS.sort_key.name, next_timer_sk)
    u.remove("lease_id", "lease_expires_at", "assigned_worker_id", "started_at", "deadline_at")
    u.bump_version()
    u.append_event(
        *([attempt] if attempt else []),
        _event(now_ms, "released", worker_id, reason="no free Lambda worker slot"),
    )
    _held_lease_fence(u, worker_id, lease_id)
    return u.build(table, key)


def mark_invoked(table: str, key: dict[str, Any], *, lease_id: str, now_ms: int) -> dict[str, Any]:
    """Record that the Lambda worker is being invoked under this lease. SQS may deliver the invoke
    message twice, even at once, and Lambda retries failed events: only the first delivery for a
    lease passes this condition, so the function runs at most once per lease."""
    u = _Update()
    u.set("invoked_lease", lease_id).set("updated_at", now_ms)
    u.status_in({S.PROCESSING})
    u.condition(f"{u.n('lease_id')} = {u.v('lease', lease_id)}")
    u.condition(f"{u.n('lease_expires_at')} > {u.v('now', now_ms)}")
    invoked = u.n("invoked_lease")
    u.condition(f"attribute_not_exists({invoked}) OR {invoked} <> {u.v('lease', lease_id)}")
    return u.build(table, key)


def mark_worker_offline(
    table: str, org_id: str, worker_id: str, *, seen_heartbeat_ms: int, now_ms: int
) -> dict[str, Any]:
    """A stale worker → offline, and out of the live registry. A heartbeat that lands between the
    sweep's read and this write changes last_heartbeat, and the worker stays live."""
    return {
        "TableName": table,
        "Key": worker_key(org_id, worker_id),
        "UpdateExpression": "SET #status = :offline, updated_at = :now REMOVE #tpk, #tsk",
        "ConditionExpression": "last_heartbeat = :seen AND #status <> :offline",
        "ExpressionAttributeNames": {
            "#status": "status",
            "#tpk": TIMERS.partition_key.name,
            "#tsk": TIMERS.sort_key.name,
        },
        "ExpressionAttributeValues": dynamo_codec.encode_values(
            {":offline": "offline", ":now": now_ms, ":seen": seen_heartbeat_ms}
        ),
    }


def forget_offline_worker(table: str, org_id: str, worker_id: str) -> dict[str, Any]:
    # Only while still offline: a worker that heartbeats again re-enters the registry itself.
    return {
        "TableName": table,
        "Key": worker_key(org_id, worker_id),
        "UpdateExpression": "REMOVE #tpk, #tsk",
        "ConditionExpression": "#status = :offline",
        "ExpressionAttributeNames": {
            "#status": "status",
            "#tpk": TIMERS.partition_key.name,
            "#tsk": TIMERS.sort_key.name,
        },
        "ExpressionAttributeValues": {":offline": {"S": "offline"}},
    }


def create_lambda_slots(table: str, org_id: str, queue: str, now_ms: int) -> dict[str, Any]:
    # A nested SET needs the map to exist. Two pumps creating it at once: the second one's
    # condition fails and it goes on with the map the first one made.
    return {
        "TableName": table,
        "Item": {
            **lambda_slots_key(org_id, queue),
            "slots": {"M": {}},
            "org_id": {"S": org_id},
            "queue_name": {"S": queue},
            "created_at": {"N": str(now_ms)},
        },
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def take_lambda_slot(
    table: str, org_id: str, queue: str, *, job_id: str, lease_end_ms: int, limit: int
) -> dict[str, Any]:
    """One of the queue's `limit` concurrency slots for this job's lease. Pumps racing for the last
    slot: the size condition is evaluated in the write, so at most `limit` entries ever exist."""
    return {
        "TableName": table,
        "Key": lambda_slots_key(org_id, queue),
        "UpdateExpression": "SET slots.#job = :lease_end",
        "ConditionExpression": "size(slots) < :limit",
        "ExpressionAttributeNames": {"#job": job_id},
        "ExpressionAttributeValues": dynamo_codec.encode_values(
            {":lease_end": lease_end_ms, ":limit": limit}
        ),
    }


def free_lambda_slot(
    table: str, org_id: str, queue: str, *, job_id: str, lease_end_ms: int
) -> dict[str, Any]:
    # Only the slot of this lease: the same job re-claimed later holds a slot with another lease
    # end, which a late release (or a prune from a stale read) must not free.
    return {
        "TableName": table,
        "Key": lambda_slots_key(org_id, queue),
        "UpdateExpression": "REMOVE slots.#job",
        "ConditionExpression": "slots.#job = :lease_end",
        "ExpressionAttributeNames": {"#job": job_id},
        "ExpressionAttributeValues": dynamo_codec.encode_values({":lease_end": lease_end_ms}),
    }
