"""Every DynamoDB key, condition and update expression of the service, in one place.

Each builder returns the keyword arguments for one client call. The comment on each says which race
its condition guards against. Transitions take their from-states from shared/job_states.py.

Key layout of the single table (org ids are UUIDs and queue names exclude '#', so no key is ambiguous):
  job              pk JOB#{org}#{job_id}        sk JOB
  idempotency key  pk IDEM#{org}#{key}          sk IDEM
  organization     pk ORG#{org}                 sk ORG
  queue counters   pk ORG#{org}                 sk QSTAT#{queue}
  queue config     pk ORG#{org}                 sk QUEUE#{queue}
  API key          pk APIKEY#{sha256 of key}    sk APIKEY
  worker           pk WORKER#{worker_id}        sk WORKER
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared import dynamo_codec, schema
from shared.job_states import JobStatus, from_states

S = JobStatus
READY = schema.READY_INDEX
TIMERS = schema.TIMER_INDEX


# --- keys ----------------------------------------------------------------------------------


def job_key(org_id: str, job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{org_id}#{job_id}"}, "sk": {"S": "JOB"}}


def job_id_from_pk(pk: str) -> str:
    return pk.rsplit("#", 1)[1]


def idempotency_key(org_id: str, key: str) -> dict[str, Any]:
    return {"pk": {"S": f"IDEM#{org_id}#{key}"}, "sk": {"S": "IDEM"}}


def org_key(org_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": "ORG"}}


def queue_counter_key(org_id: str, queue: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"QSTAT#{queue}"}}


def queue_config_key(org_id: str, queue: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"QUEUE#{queue}"}}


def api_key_key(key_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEY#{key_hash}"}, "sk": {"S": "APIKEY"}}


def worker_key(worker_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"WORKER#{worker_id}"}, "sk": {"S": "WORKER"}}


# --- index key values ----------------------------------------------------------------------


def ready_pk(org_id: str, queue: str, shard: int) -> str:
    return f"{org_id}#{queue}#{shard}"


def ready_sk(priority: int, created_ms: int, job_id: str) -> str:
    # Lexicographic order = priority descending (100 - p runs 0..200), then oldest first (FIFO).
    return f"{100 - priority:03d}#{created_ms:013d}#{job_id}"


def timer_pk(org_id: str, queue: str) -> str:
    return f"{org_id}#{queue}"


def timer_sk(due_ms: int, job_id: str) -> str:
    return f"{due_ms:013d}#{job_id}"


def created_sk(created_ms: int, item_id: str) -> str:
    return f"{created_ms:013d}#{item_id}"


ALL_QUEUES_PARTITION = "QUEUES"  # by_org partition listing every queue of the deployment


def jobs_by_org_pk(org_id: str) -> str:
    return f"JOBS#{org_id}"


def workers_by_org_pk(org_id: str) -> str:
    return f"WORKERS#{org_id}"


def jobs_by_queue_pk(org_id: str, queue: str) -> str:
    return f"{org_id}#{queue}"


def shard_of(job_id: str, shards: int) -> int:
    # Stable per job, so a job re-enters the same ready partition after a retry.
    return int(job_id.replace("-", "")[-6:], 16) % shards


# --- a small update builder ----------------------------------------------------------------


class _Update:
    """Collects SET/REMOVE/ADD clauses and a condition with placeholder names for every attribute."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.adds: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.conditions: list[str] = []

    def n(self, attribute: str) -> str:
        placeholder = f"#{attribute}"
        self.names[placeholder] = attribute
        return placeholder

    def v(self, name: str, value: Any) -> str:
        placeholder = f":{name}"
        self.values[placeholder] = value
        return placeholder

    def set(self, attribute: str, value: Any) -> _Update:
        if value is None:
            return self.remove(attribute)
        self.sets.append(f"{self.n(attribute)} = {self.v(attribute, value)}")
        return self

    def remove(self, *attributes: str) -> _Update:
        self.removes.extend(self.n(a) for a in attributes)
        return self

    def bump_version(self) -> _Update:
        self.adds.append(f"{self.n('version')} {self.v('one', 1)}")
        return self

    def append_event(self, event: dict[str, Any]) -> _Update:
        # History lives in the job item: no extra write per transition (see docs/architecture.md).
        events, empty, new = self.n("events"), self.v("empty", []), self.v("event", [event])
        self.sets.append(f"{events} = list_append(if_not_exists({events}, {empty}), {new})")
        return self

    def status_in(self, statuses: Iterable[str]) -> _Update:
        placeholders = [self.v(f"from_{s}", str(s)) for s in sorted(statuses)]
        self.conditions.append(f"{self.n('status')} IN ({', '.join(placeholders)})")
        return self

    def condition(self, text: str) -> _Update:
        self.conditions.append(text)
        return self

    def build(self, table: str, key: dict[str, Any]) -> dict[str, Any]:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        args: dict[str, Any] = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": self.names,
        }
        if self.values:
            args["ExpressionAttributeValues"] = dynamo_codec.encode_values(self.values)
        if self.conditions:
            args["ConditionExpression"] = " AND ".join(f"({c})" for c in self.conditions)
        return args


def _event(now_ms: int, kind: str, worker_id: str | None = None, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"t": now_ms, "e": kind}
    if worker_id:
        event["w"] = worker_id
    if details:
        event["d"] = {k: v for k, v in details.items() if v is not None}
    return event


# --- job creation --------------------------------------------------------------------------


def put_new_job(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # A UUID collision is astronomically unlikely, but an overwrite would lose a job silently.
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
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
) -> dict[str, Any]:
    """pending → processing. The index read that found this job may be stale and other claimers
    read the same head: only the first conditional write still sees it pending and ready."""
    u = _Update()
    u.set("status", S.PROCESSING).set("assigned_worker_id", worker_id).set("lease_id", lease_id)
    u.set("lease_expires_at", lease_expires_ms).set("started_at", now_ms).set("updated_at", now_ms)
    u.set(TIMERS.partition_key.name, timer_pk(org_id, queue))
    u.set(TIMERS.sort_key.name, timer_sk(lease_expires_ms, job_id))
    u.remove(READY.partition_key.name, READY.sort_key.name).bump_version()
    u.append_event(_event(now_ms, "processing", worker_id, lease_id=lease_id))
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


def _expired_lease_fence(u: _Update, seen_timer_sk: str, now_ms: int) -> None:
    """Only the lease the sweeper saw, and only once it has ended: a heartbeat that extended the
    lease changed timer_sk, so a stale index entry cannot take a live job away from its worker."""
    u.status_in({S.PROCESSING})
    u.condition(f"{u.n(TIMERS.sort_key.name)} = {u.v('seen_timer', seen_timer_sk)}")
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
    u.remove("lease_expires_at", TIMERS.partition_key.name, TIMERS.sort_key.name).bump_version()
    u.append_event(_event(now_ms, "completed", worker_id))
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
    # timer_sk makes any sweeper holding the old one miss (see _expired_lease_fence).
    u = _Update()
    u.set("lease_expires_at", lease_expires_ms).set("updated_at", now_ms)
    u.set(TIMERS.sort_key.name, timer_sk(lease_expires_ms, job_id))
    _lease_fence(u, worker_id, lease_id, now_ms)
    args = u.build(table, key)
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


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
) -> None:
    u.set("status", S.PENDING).set("retry_count", retry_count + 1).set("last_error", error)
    u.set("scheduled_at", due_ms).set("updated_at", now_ms)
    u.set(TIMERS.partition_key.name, timer_pk(org_id, queue))
    u.set(TIMERS.sort_key.name, timer_sk(due_ms, job_id))
    u.remove("lease_id", "lease_expires_at").bump_version()
    u.append_event(
        _event(
            now_ms,
            "retry_scheduled",
            worker_id,
            error=error[:1024],
            retry_count=retry_count + 1,
            next_run=due_ms,
        )
    )
    # The decision retry-or-deadletter was made from this retry_count: assert it still holds.
    u.condition(f"{u.n('retry_count')} = {u.v('seen_retry_count', retry_count)}")


def _dead_letter(
    u: _Update, *, org_id: str, retry_count: int, error: str, now_ms: int, worker_id: str | None
) -> None:
    u.set("status", S.DEADLETTER).set("last_error", error).set("completed_at", now_ms)
    u.set("updated_at", now_ms).set(schema.DEAD_LETTER_INDEX.partition_key.name, org_id)
    u.remove("lease_id", "lease_expires_at", TIMERS.partition_key.name, TIMERS.sort_key.name)
    u.bump_version()
    u.append_event(_event(now_ms, "deadlettered", worker_id, error=error[:1024], total_retries=retry_count))
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
) -> dict[str, Any]:
    u = _Update()
    _dead_letter(u, org_id=org_id, retry_count=retry_count, error=error, now_ms=now_ms, worker_id=worker_id)
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
    seen_timer_sk: str,
    retry_count: int,
    due_ms: int,
    error: str,
    now_ms: int,
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
    )
    _expired_lease_fence(u, seen_timer_sk, now_ms)
    return u.build(table, key)


def expired_lease_dead_letter(
    table: str,
    key: dict[str, Any],
    *,
    org_id: str,
    seen_timer_sk: str,
    retry_count: int,
    error: str,
    now_ms: int,
) -> dict[str, Any]:
    u = _Update()
    _dead_letter(u, org_id=org_id, retry_count=retry_count, error=error, now_ms=now_ms, worker_id=None)
    _expired_lease_fence(u, seen_timer_sk, now_ms)
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
) -> dict[str, Any]:
    """scheduled (or pending in backoff) → pending and claimable. timer_sk must be the one the
    index showed: if the job was rescheduled, cancelled or retried meanwhile, nothing happens."""
    u = _Update()
    u.set("status", S.PENDING).set("updated_at", now_ms)
    u.set(READY.partition_key.name, ready_pk(org_id, queue, shard))
    u.set(READY.sort_key.name, ready_sk(priority, created_ms, job_id))
    u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name).bump_version()
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
) -> dict[str, Any]:
    """failed/deadletter → pending (manual retry or DLQ retry). Two operators retrying at once:
    the second finds the job no longer in its from-state."""
    u = _Update()
    u.set("status", S.PENDING).set("retry_count", retry_count).set("updated_at", now_ms)
    u.set(READY.partition_key.name, ready_pk(org_id, queue, shard))
    u.set(READY.sort_key.name, ready_sk(priority, created_ms, job_id))
    u.remove(
        "last_error",
        "completed_at",
        "scheduled_at",
        "result",
        "result_ref",
        schema.DEAD_LETTER_INDEX.partition_key.name,
    ).bump_version()
    u.append_event(_event(now_ms, "retried", retry_count=retry_count))
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


# --- queries -------------------------------------------------------------------------------


def query_ready(table: str, org_id: str, queue: str, shard: int, limit: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "IndexName": READY.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": READY.partition_key.name},
        "ExpressionAttributeValues": {":pk": {"S": ready_pk(org_id, queue, shard)}},
        "Limit": limit,
    }


def query_due_timers(table: str, org_id: str, queue: str, now_ms: int, limit: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "IndexName": TIMERS.name,
        "KeyConditionExpression": "#pk = :pk AND #sk < :upper",
        "ExpressionAttributeNames": {"#pk": TIMERS.partition_key.name, "#sk": TIMERS.sort_key.name},
        "ExpressionAttributeValues": {
            ":pk": {"S": timer_pk(org_id, queue)},
            # every timer due at or before now sorts below "{now+1}"
            ":upper": {"S": f"{now_ms + 1:013d}"},
        },
        "Limit": limit,
    }


def query_newest_first(
    table: str,
    index: schema.GlobalIndex,
    partition: str,
    limit: int,
    start_key: dict[str, Any] | None = None,
    oldest_first: bool = False,
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": index.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": index.partition_key.name},
        "ExpressionAttributeValues": {":pk": {"S": partition}},
        "ScanIndexForward": oldest_first,
        "Limit": limit,
    }
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


def query_queue_counters(table: str, org_id: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": f"ORG#{org_id}"}, ":prefix": {"S": "QSTAT#"}},
        "ConsistentRead": True,
    }


def add_to_queue_counters(
    table: str, org_id: str, queue: str, deltas: dict[str, int], now_ms: int
) -> dict[str, Any]:
    # ADD is commutative, so stream batches for the same queue may apply in any order.
    names = {f"#c{i}": status for i, status in enumerate(deltas)}
    values: dict[str, Any] = {f":d{i}": delta for i, delta in enumerate(deltas.values())}
    values[":now"] = now_ms
    values[":queue"] = queue
    values[":org"] = org_id
    # The counter item doubles as the registry of queues the timer sweep walks: its keys in the
    # by_org index never change, so the index is written once per queue, not once per update.
    values[":all"] = ALL_QUEUES_PARTITION
    values[":queue_sk"] = f"{org_id}#{queue}"
    adds = ", ".join(f"#c{i} :d{i}" for i in range(len(deltas)))
    return {
        "TableName": table,
        "Key": queue_counter_key(org_id, queue),
        "UpdateExpression": (
            "SET updated_at = :now, queue_name = :queue, org_id = :org, "
            "org_pk = if_not_exists(org_pk, :all), created_sk = if_not_exists(created_sk, :queue_sk) "
            f"ADD {adds}"
        ),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": dynamo_codec.encode_values(values),
    }
