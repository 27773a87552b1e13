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
  (organizations, slugs, key pointers, revoked tokens, rate windows, activity: see the section
  "Accounts, API keys, tokens…" at the end)
"""

from __future__ import annotations

from typing import Any

from shared import dynamo_codec, schema
from shared.dynamo_expressions.builder import Update as _Update
from shared.dynamo_expressions.builder import history_event as _event
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


def health_probe_key() -> dict[str, Any]:
    # Never written: health probes read it to prove the table answers.
    return {"pk": {"S": "HEALTH"}, "sk": {"S": "HEALTH"}}


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


# Due times are zero-padded to 15 digits so that string order is time order up to the year 9999
# (the latest datetime a request can carry). At 13 digits a delay or expires_at past 2286 sorted
# among the due timers and crowded the queue's real due jobs out of every promote_due page.
TIMER_DIGITS = 15


def timer_sk(due_ms: int, job_id: str) -> str:
    return f"{due_ms:0{TIMER_DIGITS}d}#{job_id}"


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
    deadline_ms: int | None = None,
) -> dict[str, Any]:
    """pending → processing. The index read that found this job may be stale and other claimers
    read the same head: only the first conditional write still sees it pending and ready.
    deadline_ms (started + timeout_seconds) bounds every later lease extension (docs/timers.md)."""
    u = _Update()
    u.set("status", S.PROCESSING).set("assigned_worker_id", worker_id).set("lease_id", lease_id)
    u.set("lease_expires_at", lease_expires_ms).set("started_at", now_ms).set("updated_at", now_ms)
    u.set("deadline_at", deadline_ms)
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
    # timeout_seconds: no extension past started_at + timeout. The deadline is read in the same
    # write, so a job cannot slip past it however its heartbeats interleave.
    deadline = u.n("deadline_at")
    u.condition(f"attribute_not_exists({deadline}) OR {deadline} >= {u.v('new_lease_end', lease_expires_ms)}")
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
) -> dict[str, Any]:
    """failed/deadletter → pending (manual retry or DLQ retry). Two operators retrying at once:
    the second finds the job no longer in its from-state. A job with an expires_at gets its
    expiry timer back (docs/timers.md)."""
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
            ":upper": {"S": f"{now_ms + 1:0{TIMER_DIGITS}d}"},
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


# =========================================================================================
# Accounts, API keys, tokens, queue configuration, rate limits and activity (issue 3)
# =========================================================================================
#
#   organization       pk ORG#{org}                       sk ORG     (org_pk ORGS lists them all)
#   slug claim         pk SLUG#{slug}                     sk SLUG
#   billing e-mail     pk EMAIL#{lower-case e-mail}       sk EMAIL
#   API key by id      pk APIKEYID#{org}#{key_id}         sk APIKEYID  → key_hash (immutable)
#   revoked JWT        pk REVOKED#{jti}                   sk REVOKED   (TTL = the token's exp)
#   rate window        pk RATE#{subject}                  sk W#{window start, epoch s}
#   activity bucket    pk ORG#{org}   sk ACT#{H|M}#{bucket start, epoch s}#{queue}

ALL_ORGS_PARTITION = "ORGS"  # by_org partition listing every organization (the admin API)


def slug_key(slug: str) -> dict[str, Any]:
    return {"pk": {"S": f"SLUG#{slug}"}, "sk": {"S": "SLUG"}}


def billing_email_key(email: str) -> dict[str, Any]:
    return {"pk": {"S": f"EMAIL#{email.strip().lower()}"}, "sk": {"S": "EMAIL"}}


def api_key_pointer_key(org_id: str, key_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEYID#{org_id}#{key_id}"}, "sk": {"S": "APIKEYID"}}


def revoked_token_key(jti: str) -> dict[str, Any]:
    return {"pk": {"S": f"REVOKED#{jti}"}, "sk": {"S": "REVOKED"}}


def rate_window_key(subject: str, window_start_s: int) -> dict[str, Any]:
    return {"pk": {"S": f"RATE#{subject}"}, "sk": {"S": f"W#{window_start_s:010d}"}}


def activity_sk(granularity: str, bucket_start_s: int, queue: str) -> str:
    return f"ACT#{granularity}#{bucket_start_s:010d}#{queue}"


def keys_by_org_pk(org_id: str) -> str:
    return f"KEYS#{org_id}"


def _uniqueness_claim(table: str, key: dict[str, Any], org_id: str) -> dict[str, Any]:
    # Two registrations of the same slug (or e-mail) race on this item: the first write wins and
    # the other transaction is cancelled whole, so no second organization is created.
    return {
        "TableName": table,
        "Item": {**key, "org_id": {"S": org_id}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def claim_slug(table: str, slug: str, org_id: str) -> dict[str, Any]:
    return _uniqueness_claim(table, slug_key(slug), org_id)


def claim_billing_email(table: str, email: str, org_id: str) -> dict[str, Any]:
    return _uniqueness_claim(table, billing_email_key(email), org_id)


def release_billing_email(table: str, email: str, org_id: str) -> dict[str, Any]:
    # Only the owner's claim: a stale read of the old address must not free another org's e-mail.
    return {
        "TableName": table,
        "Key": billing_email_key(email),
        "ConditionExpression": "org_id = :org",
        "ExpressionAttributeValues": {":org": {"S": org_id}},
    }


def put_new_item(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # Organizations, API keys and their id pointers are written once; an overwrite (a UUID or key
    # collision) would silently hand one tenant's credential to another.
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def api_key_pointer_item(org_id: str, key_id: str, key_hash: str, now_ms: int) -> dict[str, Any]:
    return {
        **{k: v["S"] for k, v in api_key_pointer_key(org_id, key_id).items()},
        "org_id": org_id,
        "key_id": key_id,
        "key_hash": key_hash,
        "created_at": now_ms,
    }


def count_active_api_keys(
    table: str, org_id: str, delta: int, max_keys: int | None, now_ms: int
) -> dict[str, Any]:
    """The org's count of active keys moves in the same transaction as the key's is_active flag.
    Two creations racing for the last free slot: the count condition lets exactly one through."""
    u = _Update()
    u.adds.append(f"{u.n('api_key_count')} {u.v('delta', delta)}")
    u.set("updated_at", now_ms)
    u.condition(f"attribute_exists({u.n('pk')})")
    u.condition(f"{u.n('plan_tier')} <> {u.v('deleted', 'deleted')}")
    if delta > 0 and max_keys is not None:
        u.condition(
            f"attribute_not_exists({u.n('api_key_count')}) OR "
            f"{u.n('api_key_count')} <= {u.v('max_before', max_keys - delta)}"
        )
    return u.build(table, org_key(org_id))


def set_api_key_active(
    table: str, key_hash: str, *, org_id: str, active: bool, now_ms: int
) -> dict[str, Any]:
    # Revoke (or reactivate) only from the opposite state: a double revoke must not count twice.
    u = _Update()
    u.set("is_active", active).set("updated_at", now_ms)
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    u.condition(f"{u.n('is_active')} = {u.v('was_active', not active)}")
    return u.build(table, api_key_key(key_hash))


def update_api_key_fields(
    table: str, key_hash: str, *, org_id: str, fields: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    # The org condition keeps a key id guessed from another tenant from touching this key.
    u = _Update()
    for name, value in fields.items():
        u.set(name, value)
    u.set("updated_at", now_ms)
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    args = u.build(table, api_key_key(key_hash))
    args["ReturnValues"] = "ALL_NEW"
    return args


def touch_api_key_last_used(table: str, key_hash: str, now_ms: int, not_before_ms: int) -> dict[str, Any]:
    # Many requests of one key race here; the condition lets one write per 5 minutes through.
    return {
        "TableName": table,
        "Key": api_key_key(key_hash),
        "UpdateExpression": "SET last_used = :now",
        "ConditionExpression": (
            "attribute_exists(pk) AND (attribute_not_exists(last_used) OR last_used < :nb)"
        ),
        "ExpressionAttributeValues": dynamo_codec.encode_values({":now": now_ms, ":nb": not_before_ms}),
    }


def revoke_token(table: str, jti: str, expires_s: int, now_ms: int) -> dict[str, Any]:
    # Idempotent: logging out twice writes the same item. TTL removes it once the token is dead.
    item = {
        **{k: v["S"] for k, v in revoked_token_key(jti).items()},
        "revoked_at": now_ms,
        "expires_ttl": expires_s,
    }
    return {"TableName": table, "Item": dynamo_codec.encode_item(item)}


def count_request(
    table: str, subject: str, window_start_s: int, limit: int, expires_s: int
) -> dict[str, Any]:
    """Fixed-window rate limit: one ADD per request, refused by the condition once the window is
    full, so parallel requests can never push the count past the limit (a refused ADD writes
    nothing, and the request it belongs to is answered 429 before it touches anything else)."""
    return {
        "TableName": table,
        "Key": rate_window_key(subject, window_start_s),
        "UpdateExpression": "ADD #n :one SET expires_ttl = :ttl",
        "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": dynamo_codec.encode_values(
            {":one": 1, ":limit": limit, ":ttl": expires_s}
        ),
        "ReturnValues": "UPDATED_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


# --- organizations -------------------------------------------------------------------------


def update_organization(
    table: str, org_id: str, *, sets: dict[str, Any], removes: tuple[str, ...] = (), now_ms: int
) -> dict[str, Any]:
    # attribute_exists: an update racing a delete must not resurrect a half organization.
    u = _Update()
    for name, value in sets.items():
        u.set(name, value)
    if removes:
        u.remove(*removes)
    u.set("updated_at", now_ms)
    u.condition(f"attribute_exists({u.n('pk')})")
    args = u.build(table, org_key(org_id))
    args["ReturnValues"] = "ALL_NEW"
    return args


def query_partition(
    table: str, pk: str, sk_prefix: str, *, start_key: dict[str, Any] | None = None, consistent: bool = True
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
        "ConsistentRead": consistent,
    }
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


# --- queue configuration (contract §2.5, §3.7) --------------------------------------------


def upsert_queue_config(
    table: str,
    org_id: str,
    queue: str,
    *,
    config_id: str,
    sets: dict[str, Any],
    removes: tuple[str, ...] = (),
    defaults: dict[str, Any],
    now_ms: int,
) -> dict[str, Any]:
    """Create-or-update. Two concurrent upserts both succeed, field by field last-writer-wins; the
    id, created_at and any unset default are written only by whichever creates the item."""
    u = _Update()
    for name, value in sets.items():
        u.set(name, value)
    for name, value in defaults.items():
        placeholder = u.n(name)
        u.sets.append(f"{placeholder} = if_not_exists({placeholder}, {u.v('default_' + name, value)})")
    if removes:
        u.remove(*removes)
    for name, value in (("id", config_id), ("created_at", now_ms), ("org_id", org_id), ("queue_name", queue)):
        placeholder = u.n(name)
        u.sets.append(f"{placeholder} = if_not_exists({placeholder}, {u.v('init_' + name, value)})")
    u.set("updated_at", now_ms)
    args = u.build(table, queue_config_key(org_id, queue))
    args["ReturnValues"] = "ALL_NEW"
    return args


def resume_queue(table: str, org_id: str, queue: str, now_ms: int) -> dict[str, Any]:
    # Resume needs a config row (404 otherwise); ALL_OLD gives paused_at for the paused duration.
    u = _Update()
    u.set("enabled", True).set("updated_at", now_ms).remove("paused_at", "paused_reason")
    u.condition(f"attribute_exists({u.n('pk')})")
    args = u.build(table, queue_config_key(org_id, queue))
    args["ReturnValues"] = "ALL_OLD"
    return args


def delete_queue_config(table: str, org_id: str, queue: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": queue_config_key(org_id, queue),
        "ConditionExpression": "attribute_exists(pk)",
    }


# --- activity: counts kept from the stream for dashboards, queue stats and /metrics ---------


def add_to_activity_bucket(
    table: str,
    org_id: str,
    granularity: str,
    bucket_start_s: int,
    queue: str,
    counts: dict[str, int],
    expires_s: int,
) -> dict[str, Any]:
    # ADD is commutative: stream batches may land in any order, and a replayed batch over-counts
    # rather than loses (the stream is at-least-once).
    u = _Update()
    for name, value in counts.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    u.set("queue_name", queue).set("bucket_start", bucket_start_s).set("expires_ttl", expires_s)
    key = {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": activity_sk(granularity, bucket_start_s, queue)}}
    return u.build(table, key)


def add_to_queue_totals(table: str, org_id: str, queue: str, totals: dict[str, int]) -> dict[str, Any]:
    # Monotonic totals for Prometheus counters, on the queue's counter item (see add_to_queue_counters).
    u = _Update()
    for name, value in totals.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    u.set("queue_name", queue).set("org_id", org_id)
    return u.build(table, queue_counter_key(org_id, queue))


def add_to_worker_counts(table: str, worker_id: str, org_id: str, counts: dict[str, int]) -> dict[str, Any]:
    # Only an existing worker of the same organization: a claim by an unregistered worker id must
    # not create a phantom worker, nor credit another tenant's worker that happens to share the id.
    u = _Update()
    for name, value in counts.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    return u.build(table, worker_key(worker_id))


def query_activity(table: str, org_id: str, granularity: str, from_s: int, to_s: int) -> dict[str, Any]:
    # '~' sorts after every character a queue name may contain, so the range ends after to_s's buckets.
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"ORG#{org_id}"},
            ":low": {"S": f"ACT#{granularity}#{from_s:010d}"},
            ":high": {"S": f"ACT#{granularity}#{to_s:010d}#~"},
        },
    }


# =========================================================================================
# Timers, stale workers and Lambda workers (issue 4; docs/timers.md)
# =========================================================================================
#
#   live-worker registry  timers index partition LIVE_WORKERS, sort {worker_id} (worker items)
#   Lambda-worker slots   pk ORG#{org}   sk LAMBDA#{queue}   slots: {job_id: lease end ms}
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
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"LAMBDA#{queue}"}}


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
) -> dict[str, Any]:
    u = _Update()
    _dead_letter(u, org_id=org_id, retry_count=retry_count, error=error, now_ms=now_ms, worker_id=worker_id)
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
    u.append_event(_event(now_ms, "released", worker_id, reason="no free Lambda worker slot"))
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


def query_timer_partition(
    table: str,
    partition: str,
    *,
    status: str | None = None,
    due_by_ms: int | None = None,
    limit: int | None = None,
    start_key: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Entries of one timers-index partition (a queue's timers, the live-worker registry, due
    schedules, open workflows), oldest due first: optionally only those due by `due_by_ms` and in
    one status (the index projects status)."""
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": TIMERS.name,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": TIMERS.partition_key.name},
        "ExpressionAttributeValues": {":pk": {"S": partition}},
    }
    if due_by_ms is not None:
        args["KeyConditionExpression"] += " AND #sk < :upper"
        args["ExpressionAttributeNames"]["#sk"] = TIMERS.sort_key.name
        args["ExpressionAttributeValues"][":upper"] = {"S": f"{due_by_ms + 1:0{TIMER_DIGITS}d}"}
    if status is not None:
        args["FilterExpression"] = "#status = :status"
        args["ExpressionAttributeNames"]["#status"] = "status"
        args["ExpressionAttributeValues"][":status"] = {"S": status}
    if limit is not None:
        args["Limit"] = limit
    if start_key:
        args["ExclusiveStartKey"] = start_key
    return args


def mark_worker_offline(table: str, worker_id: str, *, seen_heartbeat_ms: int, now_ms: int) -> dict[str, Any]:
    """A stale worker → offline, and out of the live registry. A heartbeat that lands between the
    sweep's read and this write changes last_heartbeat, and the worker stays live."""
    return {
        "TableName": table,
        "Key": worker_key(worker_id),
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


def forget_offline_worker(table: str, worker_id: str) -> dict[str, Any]:
    # Only while still offline: a worker that heartbeats again re-enters the registry itself.
    return {
        "TableName": table,
        "Key": worker_key(worker_id),
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


def query_partition_keys(table: str, pk: str) -> dict[str, Any]:
    # Every item of one partition, keys only (deleting an organization's partition).
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ProjectionExpression": "pk, sk",
        "ConsistentRead": True,
    }


# --- workers (contract §2.6) ---------------------------------------------------------------


def register_worker(
    table: str, worker_id: str, org_id: str, fields: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """Upsert by id. A stable worker id owned by another organization must not be taken over: two
    orgs registering the same id race on the condition and the second gets a 409."""
    u = _Update()
    for name, value in fields.items():
        u.set(name, value)
    u.set("id", worker_id).set("org_id", org_id).set("status", "healthy")
    u.set("last_heartbeat", now_ms).set("updated_at", now_ms).set("current_jobs", 0)
    u.set("org_pk", workers_by_org_pk(org_id))
    # The live-worker registry the stale-worker sweep walks (shared/stale_workers.py).
    u.set(TIMERS.partition_key.name, LIVE_WORKERS_PARTITION).set(TIMERS.sort_key.name, worker_id)
    registered, created = u.n("registered_at"), u.n("created_sk")
    u.sets.append(f"{registered} = if_not_exists({registered}, {u.v('now', now_ms)})")
    u.sets.append(f"{created} = if_not_exists({created}, {u.v('first_sk', created_sk(now_ms, worker_id))})")
    u.condition(f"attribute_not_exists({u.n('pk')}) OR {u.n('org_id')} = {u.v('org', org_id)}")
    return u.build(table, worker_key(worker_id))


def worker_heartbeat(
    table: str,
    worker_id: str,
    org_id: str,
    *,
    current_jobs: int,
    status: str,
    metadata_text: str | None,
    now_ms: int,
) -> dict[str, Any]:
    # Back into the live-worker registry if the stale sweep took it out; the same values as
    # before otherwise, which writes nothing to the index.
    u = _Update()
    u.set("last_heartbeat", now_ms).set("updated_at", now_ms).set("current_jobs", current_jobs)
    u.set("status", status)
    u.set(TIMERS.partition_key.name, LIVE_WORKERS_PARTITION).set(TIMERS.sort_key.name, worker_id)
    if metadata_text is not None:
        u.set("metadata", metadata_text)
    _owned_by(u, org_id)
    return u.build(table, worker_key(worker_id))


def deregister_worker(table: str, worker_id: str, org_id: str, now_ms: int) -> dict[str, Any]:
    u = _Update()
    u.set("status", "offline").set("updated_at", now_ms)
    u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    _owned_by(u, org_id)
    return u.build(table, worker_key(worker_id))


def _owned_by(u: _Update, org_id: str) -> None:
    # Another organization's worker (or none) must look exactly like a missing one.
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
