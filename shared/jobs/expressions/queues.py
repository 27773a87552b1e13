"""Keys and expressions of the per-queue items: configuration, status counters and activity buckets.

Counters and activity are written from the table's stream (shared.jobs.queues); the configuration
by the queues API. The comment on each says which race its condition guards against.

Where they live: the configuration (QUEUE#{queue}) and the registry entry (QREG#{queue}) in the
organization's partition ORG#{org}, written rarely; the counter item (QSTAT) and the activity
buckets (ACT#…) in the queue's own partition QSTAT#{org}#{queue} (keys.queue_partition_pk), since
every stream batch writes them: one partition per queue, so an organization's queues do not share
one partition's 1,000 writes/s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.jobs.expressions.keys import (
    ALL_QUEUES_PARTITION,
    queue_config_key,
    queue_counter_key,
    queue_partition_pk,
    worker_key,
)
from shared.plumbing import dynamo_codec
from shared.plumbing.update_builder import Update as _Update


def activity_sk(granularity: str, bucket_start_s: int) -> str:
    return f"ACT#{granularity}#{bucket_start_s:010d}"


def activity_key(org_id: str, queue: str, granularity: str, bucket_start_s: int) -> dict[str, Any]:
    return {
        "pk": {"S": queue_partition_pk(org_id, queue)},
        "sk": {"S": activity_sk(granularity, bucket_start_s)},
    }


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


def add_to_activity_bucket(
    table: str,
    org_id: str,
    granularity: str,
    bucket_start_s: int,
    queue: str,
    counts: dict[str, int],
    expires_s: int,
) -> dict[str, Any]:
    # ADD is commutative: stream batches may land in any order. A replayed batch adds nothing: the
    # update is applied only inside the transaction of advance_stream_mark.
    u = _Update()
    for name, value in counts.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    u.set("queue_name", queue).set("bucket_start", bucket_start_s).set("expires_ttl", expires_s)
    return u.build(table, activity_key(org_id, queue, granularity, bucket_start_s))


def settle_worker(
    table: str,
    worker_id: str,
    org_id: str,
    counts: dict[str, int],
    took: Iterable[str] = (),
    let_go: Iterable[str] = (),
) -> dict[str, Any]:
    """A stream batch's changes to one worker: the jobs it completed or failed (counts) and the
    jobs it took and let go, kept in its `leases` map (job id → 1) so that a worker gone offline can
    have its jobs released without an index of running jobs. One update, in the batch's
    exactly-once transaction (shared/jobs/queues/stream_apply.py): a map, not a string set, because
    one update may not ADD to and DELETE from the same set, and a worker both takes and lets go of
    jobs in most batches. Setting or removing a map entry twice changes nothing."""
    # Only an existing worker of the same organization: a claim by an unregistered worker id must
    # not create a phantom worker, nor credit another tenant's worker that happens to share the id.
    # attribute_exists(leases): every registration writes the map; without it a nested SET would
    # fail the whole transaction instead of this one condition.
    u = _Update()
    for name, value in counts.items():
        u.adds.append(f"{u.n(name)} {u.v(name, value)}")
    leases = u.n("leases")
    for i, job_id in enumerate(sorted(set(took))):
        u.names[f"#took{i}"] = job_id
        u.sets.append(f"{leases}.#took{i} = {u.v('held', 1)}")
    for i, job_id in enumerate(sorted(set(let_go))):
        u.names[f"#gone{i}"] = job_id
        u.removes.append(f"{leases}.#gone{i}")
    u.condition(f"{u.n('org_id')} = {u.v('org', org_id)}")
    u.condition(f"attribute_exists({leases})")
    return u.build(table, worker_key(org_id, worker_id))


def query_activity(
    table: str, org_id: str, queue: str, granularity: str, from_s: int, to_s: int
) -> dict[str, Any]:
    # One queue's buckets of one granularity starting in [from_s, to_s]: a range of its partition.
    # Eventually consistent (half the read units): the buckets trail the jobs by a stream batch anyway.
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":pk": {"S": queue_partition_pk(org_id, queue)},
            ":low": {"S": activity_sk(granularity, from_s)},
            ":high": {"S": activity_sk(granularity, to_s)},
        },
    }


def query_registered_queues(table: str, org_id: str) -> dict[str, Any]:
    # Consistent: a queue is listed as soon as the create that registered it returns (issue 11).
    # Only the names: the counters are read by key from each queue's partition (read_queue_counters).
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :reg)",
        "ExpressionAttributeValues": {":pk": {"S": f"ORG#{org_id}"}, ":reg": {"S": "QREG#"}},
        "ProjectionExpression": "queue_name",
        "ConsistentRead": True,
    }


def read_queue_counters(table: str, org_id: str, queues: list[str]) -> dict[str, Any]:
    # Eventually consistent (0.5 read units per queue, up to 100 queues a call): the counters trail
    # the jobs by a stream batch whatever the read, so a strongly consistent one buys nothing.
    return {table: {"Keys": [queue_counter_key(org_id, queue) for queue in queues]}}


@dataclass(frozen=True)
class CounterBucket:
    """The newest activity bucket of one size, kept on the queue's counter item as flat attributes
    `{granularity}_{name}` beside `cur_{granularity}`, its start (shared/jobs/queues/activity.py,
    "The newest buckets ride on the counter item"). `moves`: this batch starts a newer bucket there
    (the one held moves to its own item in the same transaction); else it adds to the one held."""

    granularity: str
    start: int
    counts: dict[str, int]
    moves: bool
    held_start: int | None = None  # the bucket the counter held when this batch read it
    held_names: tuple[str, ...] = ()  # its count names, removed when a newer bucket takes its place


def counter_bucket_attribute(granularity: str, name: str) -> str:
    return f"{granularity}_{name}"


def counter_bucket_start_attribute(granularity: str) -> str:
    return f"cur_{granularity}"


def read_queue_counter(table: str, org_id: str, queue: str) -> dict[str, Any]:
    # Consistent: a batch that moves the newest bucket off the counter item copies what it read,
    # and the version it read must be the latest, or the transaction is cancelled anyway.
    return {"TableName": table, "Key": queue_counter_key(org_id, queue), "ConsistentRead": True}


def add_to_queue_counters(
    table: str,
    org_id: str,
    queue: str,
    deltas: dict[str, int],
    now_ms: int,
    totals: dict[str, int] | None = None,
    buckets: Iterable[CounterBucket] = (),
    version: int | None = None,
) -> dict[str, Any]:
    # ADD is commutative, so stream batches for the same queue may apply in any order. Exactly-once
    # is not this update's job: it is applied inside the transaction of advance_stream_mark below,
    # whose condition makes a replayed record add nothing. The monotonic totals (Prometheus
    # counters) and the newest activity buckets ride on the same update: one transaction may touch
    # an item only once.
    u = _Update()
    for i, (name, delta) in enumerate({**deltas, **(totals or {})}.items()):
        u.adds.append(f"{u.n(name)} {u.v(f'd{i}', delta)}")
    u.set("updated_at", now_ms).set("queue_name", queue).set("org_id", org_id)
    # No by_org key: the registry item (register_queue) is what lists a queue, once; every path
    # that writes a job registers its queue first.
    moves = False
    for bucket in buckets:
        held = u.n(counter_bucket_start_attribute(bucket.granularity))
        names = {counter_bucket_attribute(bucket.granularity, name): v for name, v in bucket.counts.items()}
        if not bucket.moves:
            # Two batches of other shards adding to the same bucket commute; one that read an older
            # bucket must not add into the newer one another batch moved in meanwhile.
            for attribute, value in names.items():
                u.adds.append(f"{u.n(attribute)} {u.v(attribute, value)}")
            u.condition(f"{held} = {u.v(f'held_{bucket.granularity}', bucket.held_start)}")
            continue
        moves = True
        u.sets.append(f"{held} = {u.v(f'start_{bucket.granularity}', bucket.start)}")
        for attribute, value in names.items():
            u.set(attribute, value)
        stale = [counter_bucket_attribute(bucket.granularity, n) for n in bucket.held_names]
        u.remove(*[attribute for attribute in stale if attribute not in names])
    if buckets:
        # The version moves with every change to the buckets held: a batch that moves a bucket
        # out copies the counts it read, so nothing may have been added to them since.
        u.adds.append(f"{u.n('ver')} {u.v('one', 1)}")
    if moves:
        ver = u.n("ver")
        u.condition(f"attribute_not_exists({ver})" if version is None else f"{ver} = {u.v('ver', version)}")
    return u.build(table, queue_counter_key(org_id, queue))


# --- the queue registry ----------------------------------------------------------------------
# A queue is registered by its first create (shared/jobs/queues/registry.py: JobStore.create and
# create_many, and a workflow's create), not by the stream: a small item ORG#{org} / QREG#{queue}
# whose by_org key puts it in the QUEUES partition the sweep pages through. It is the list of an
# organization's queues that every reader of the per-queue partitions starts from, and the only
# item in the QUEUES partition (the sweep, /metrics). It is not the counter item, so registering
# writes no QueueStats frame for live updates and the stream's counter transactions never
# conflict with it. A create whose registration fails fails with it, so no queue holds a job
# unregistered.


def queue_registry_key(org_id: str, queue: str) -> dict[str, Any]:
    return {"pk": {"S": f"ORG#{org_id}"}, "sk": {"S": f"QREG#{queue}"}}


def register_queue(table: str, org_id: str, queue: str, now_ms: int) -> dict[str, Any]:
    # Two creates racing to register the same queue: one condition passes, the other fails, and
    # either way the queue is registered once; a failed condition means "already registered", so a
    # container that starts cold pays one (failed, billed) write and the item is never rewritten.
    return {
        "TableName": table,
        "Key": queue_registry_key(org_id, queue),
        "UpdateExpression": (
            "SET org_id = :org, queue_name = :queue, org_pk = :all, created_sk = :queue_sk, "
            "registered_at = :now"
        ),
        "ConditionExpression": "attribute_not_exists(pk)",
        "ExpressionAttributeValues": dynamo_codec.encode_values(
            {
                ":org": org_id,
                ":queue": queue,
                ":all": ALL_QUEUES_PARTITION,
                ":queue_sk": f"{org_id}#{queue}",
                ":now": now_ms,
            }
        ),
    }


def query_queue_registry(
    table: str, index_name: str, limit: int, cursor: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One page of every registered queue (the by_org index's QUEUES partition), oldest first."""
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": index_name,
        "KeyConditionExpression": "org_pk = :all",
        "ExpressionAttributeValues": {":all": {"S": ALL_QUEUES_PARTITION}},
        "Limit": limit,
    }
    if cursor:
        args["ExclusiveStartKey"] = cursor
    return args


# --- stream watermarks -----------------------------------------------------------------------
# A stream batch's counter and activity deltas are applied once per record, whatever Lambda
# re-delivers (the batch again, or from a reported record on; never from its middle, as bisection
# would: stacks/dispatcher.py), by one small item per (queue, batch start): pk SMARK#{org}#{queue}, sk the
# SequenceNumber of the batch's first record, padded to 40 digits (AWS gives 21-40 digits; padded,
# string order is numeric order), holding `w`, the padded number of the last record of that queue
# whose deltas are applied. The deltas and the mark move in one transaction (shared/jobs/queues/
# stream_apply.py). Kept MARK_KEEP_SECONDS: Lambda retries a shard's batch for at most a day.

SEQUENCE_DIGITS = 40
MARK_PREFIX = "SMARK#"


def padded_sequence(sequence_number: str) -> str:
    return sequence_number.zfill(SEQUENCE_DIGITS)


def stream_mark_key(org_id: str, queue: str, first_sequence: str) -> dict[str, Any]:
    return {"pk": {"S": f"{MARK_PREFIX}{org_id}#{queue}"}, "sk": {"S": padded_sequence(first_sequence)}}


def advance_stream_mark(
    table: str, org_id: str, queue: str, first_sequence: str, read: str | None, new: str, expires_s: int
) -> dict[str, Any]:
    """The transaction's guard: the mark is still what this delivery read. Two deliveries of the
    same batch at once (a retry overlapping a timed-out invocation, a second local reader) both
    read the same mark; the second to commit finds it moved and is cancelled whole, deltas and
    all, so no record is counted twice."""
    values: dict[str, Any] = {":new": padded_sequence(new), ":exp": expires_s}
    if read is None:
        condition = "attribute_not_exists(pk)"
    else:
        condition = "w = :read"
        values[":read"] = read
    return {
        "TableName": table,
        "Key": stream_mark_key(org_id, queue, first_sequence),
        "UpdateExpression": "SET w = :new, expires_ttl = :exp",
        "ConditionExpression": condition,
        "ExpressionAttributeValues": dynamo_codec.encode_values(values),
    }


def read_stream_marks(table: str, keys: list[dict[str, Any]]) -> dict[str, Any]:
    # Consistent: the mark a transaction asserts must be the latest one, or it is cancelled anyway.
    return {table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk, sk, w"}}
