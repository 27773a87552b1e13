"""Keys and expressions of the per-queue items: configuration, status counters and activity buckets.

Counters and activity are written from the table's stream (shared.jobs.queues); the configuration
by the queues API. The comment on each says which race its condition guards against.
"""

from __future__ import annotations

from typing import Any

from shared.jobs.expressions.keys import ALL_QUEUES_PARTITION, queue_config_key, queue_counter_key, worker_key
from shared.plumbing import dynamo_codec
from shared.plumbing.update_builder import Update as _Update


def activity_sk(granularity: str, bucket_start_s: int, queue: str) -> str:
    return f"ACT#{granularity}#{bucket_start_s:010d}#{queue}"


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
    return u.build(table, worker_key(org_id, worker_id))


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
