"""What happened to jobs over time, kept from the table's stream (like shared/jobs/queues/counters.py).

Each stream batch is folded into a few ADDs per queue (the newest bucket of each size on the
queue's counter item; see "The newest buckets ride on the counter item" below):
  - time buckets per queue: hourly (`H`, for "last 24 h" and "today") and 1-minute (`m1`, for
    "last hour" and the dashboard's charts) counts of jobs created, claimed, completed, failed and
    dead-lettered, plus sums for average wait and processing times;
  - in the 1-minute buckets only, the net change of the queue's pending and processing counts
    (`d_pending`, `d_processing`), so that queue depth over the last hour is the current count
    minus the changes since (GET /api/v1/dashboard/activity) rather than a sampled series;
  - monotonic totals on the queue's counter item, which /metrics exposes as Prometheus counters;
  - jobs_processed / jobs_failed on the worker that completed or failed the job.
Dashboards, queue stats and usage read a bounded range of buckets (up to 24 hourly or 60 one-minute
items per queue, from the queue's own partition QSTAT#{org}#{queue}), never the jobs. Like the
counters, this is eventually consistent and exact: it is applied with them, once per stream
record (shared/jobs/queues/stream_apply.py).

Two sizes, not three: each size is one more item in every stream batch's transaction (2 WRU per
queue and batch), so the last hour, once read from 5-minute buckets (`M`), is summed from its
1-minute ones (see last_hour for what that costs the reader).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.queues import registry
from shared.plumbing import aws_clients, dynamo_codec

HOURLY = "H"
MINUTE = "m1"
BUCKET_SECONDS = {HOURLY: 3600, MINUTE: 60}
# Kept a little longer than they are read; the queries bound the range, so TTL lag is harmless.
BUCKET_KEEP_SECONDS = {HOURLY: 49 * 3600, MINUTE: 2 * 3600}
LAST_HOUR_MINUTES = 60  # the current minute and the 59 before it, as the dashboard's charts
DEPTH_STATUSES = ("pending", "processing")

ACTIVE_STATUSES = ("processing",)
TERMINAL_FAILURES = ("deadletter", "failed")
TOTAL_NAMES = {
    "created": "created_total",
    "claimed": "claims_total",
    "completed": "completed_total",
    "failed": "failures_total",
    "deadlettered": "deadlettered_total",
}

QueueKey = tuple[str, str]
BucketKey = tuple[str, str, str, int]  # (org, queue, granularity, bucket start)


def _counters() -> defaultdict[Any, Counter[str]]:
    return defaultdict(Counter)


@dataclass
class Activity:
    buckets: dict[BucketKey, Counter[str]] = field(default_factory=_counters)
    totals: dict[QueueKey, Counter[str]] = field(default_factory=_counters)
    workers: dict[tuple[str, str], Counter[str]] = field(default_factory=_counters)

    def count(self, org: str, queue: str, at_ms: int, name: str, n: int = 1) -> None:
        for granularity, seconds in BUCKET_SECONDS.items():
            start = (at_ms // 1000) // seconds * seconds
            self.buckets[(org, queue, granularity, start)][name] += n
        if name in TOTAL_NAMES:
            self.totals[(org, queue)][TOTAL_NAMES[name]] += n

    def depth_change(self, org: str, queue: str, at_ms: int, before: str | None, after: str | None) -> None:
        start = (at_ms // 1000) // 60 * 60
        for status in DEPTH_STATUSES:
            delta = int(after == status) - int(before == status)
            if delta:
                self.buckets[(org, queue, MINUTE, start)][f"d_{status}"] += delta


def _scalar(image: dict[str, Any], name: str) -> Any:
    attribute = image.get(name)
    return dynamo_codec.decode(attribute) if attribute else None


def _last_event_worker(image: dict[str, Any]) -> str | None:
    # A claim and a completion write no history entry: their worker is assigned_worker_id. Other
    # transitions name theirs in the entry they append (none for a lease that ran out).
    worker_id = _scalar(image, "assigned_worker_id")
    if _scalar(image, "status") in ("processing", "completed") and worker_id:
        return str(worker_id)
    events = image.get("events", {}).get("L") or []
    if not events:
        return None
    worker = events[-1].get("M", {}).get("w", {})
    return worker.get("S")


def fold(records: Iterable[dict[str, Any]]) -> Activity:
    """Stream records (NEW_AND_OLD_IMAGES) → counts per bucket, totals per queue, counts per worker."""
    activity = Activity()
    for record in records:
        change = record.get("dynamodb", {})
        old, new = change.get("OldImage"), change.get("NewImage")
        if not ex.is_job_image(new):
            # A deleted job changes no activity, but a deleted waiting job shortens its queue.
            when = change.get("ApproximateCreationDateTime")  # epoch seconds; boto3 gives a datetime
            if ex.is_job_image(old) and when is not None:
                at_ms = int((when.timestamp() if hasattr(when, "timestamp") else float(when)) * 1000)
                org, queue = _scalar(old, "org_id"), _scalar(old, "queue_name")
                activity.depth_change(org, queue, at_ms, _scalar(old, "status"), None)
            continue
        org, queue = _scalar(new, "org_id"), _scalar(new, "queue_name")
        if not ex.is_job_image(old):
            created_at = _scalar(new, "created_at")
            activity.count(org, queue, created_at, "created")
            activity.depth_change(org, queue, created_at, None, _scalar(new, "status"))
            continue
        before, after = _scalar(old, "status"), _scalar(new, "status")
        if before == after:
            continue
        at_ms = _scalar(new, "updated_at") or _scalar(new, "created_at")
        activity.depth_change(org, queue, at_ms, before, after)
        worker = _last_event_worker(new)
        if after == "processing":
            activity.count(org, queue, at_ms, "claimed")
            started = _scalar(new, "started_at")
            ready_since = _scalar(new, "scheduled_at") or _scalar(new, "created_at")
            if started is not None and ready_since is not None:
                activity.count(org, queue, at_ms, "wait_ms", max(0, started - ready_since))
                activity.count(org, queue, at_ms, "wait_n")
        elif after == "completed":
            activity.count(org, queue, at_ms, "completed")
            started, finished = _scalar(new, "started_at"), _scalar(new, "completed_at")
            if started is not None and finished is not None:
                activity.count(org, queue, at_ms, "proc_ms", max(0, finished - started))
                activity.count(org, queue, at_ms, "proc_n")
            if worker:
                activity.workers[(org, worker)]["jobs_processed"] += 1
        if before == "processing" and after in ("pending", *TERMINAL_FAILURES):
            activity.count(org, queue, at_ms, "failed")
            if worker:
                activity.workers[(org, worker)]["jobs_failed"] += 1
        if after in TERMINAL_FAILURES:
            activity.count(org, queue, at_ms, "deadlettered")
    return activity


# --- the newest buckets ride on the counter item ------------------------------------------------
# Every stream batch of a queue writes its counter item anyway, and a busy queue's batches mostly
# land in the same hour and minute. So the counter item holds the newest bucket of each size
# (`cur_H`, `cur_m1` and flat `H_{name}` / `m1_{name}` counts) and a batch adds to those in the
# same update as the counts: no bucket item is written until a batch starts a newer bucket, which
# then moves the one held to its own ACT# item (one ADD, in the same transaction, conditioned on
# the counter's version so that the counts it copies are all there are). Records older than the
# held bucket (a lagging shard) add to their bucket's item as before. Per queue and batch that is
# 2 WRU less for each size whose bucket the batch does not change, against 2 WRU per move (once a
# minute and once an hour per active queue) and a consistent read of the counter item (1 RRU); the
# readers add the held bucket to what they query (_bucket_items).

ON_COUNTER = (HOURLY, MINUTE)


def held_buckets(counter: dict[str, Any]) -> dict[str, tuple[int, dict[str, int]]]:
    """granularity → (start, counts) of the buckets a decoded counter item holds."""
    held = {}
    for granularity in ON_COUNTER:
        start = counter.get(ex.counter_bucket_start_attribute(granularity))
        if start is None:
            continue
        prefix = ex.counter_bucket_attribute(granularity, "")
        counts = {k[len(prefix) :]: int(v) for k, v in counter.items() if k.startswith(prefix)}
        held[granularity] = (int(start), counts)
    return held


def plan_buckets(
    activity: Activity, queue: QueueKey, held: dict[str, tuple[int, dict[str, int]]]
) -> tuple[list[ex.CounterBucket], dict[tuple[str, int], Counter[str]]]:
    """Where one queue's bucket counts of a batch go: the bucket each size's counter attributes
    take (added to the one held, or a newer one that moves it out), and the counts added to bucket
    items, by (granularity, start): older buckets of the batch, and the held bucket moved out."""
    on_counter: list[ex.CounterBucket] = []
    to_items: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    mine = {(g, start): counts for (o, q, g, start), counts in activity.buckets.items() if (o, q) == queue}
    for granularity in BUCKET_SECONDS:
        starts = {start: counts for (g, start), counts in mine.items() if g == granularity}
        if not starts:
            continue
        newest = max(starts)
        for start, counts in starts.items():
            if start != newest or granularity not in ON_COUNTER:
                to_items[(granularity, start)].update(counts)
        if granularity not in ON_COUNTER:
            continue
        held_start, held_counts = held.get(granularity, (None, {}))
        if held_start is not None and newest < held_start:
            to_items[(granularity, newest)].update(starts[newest])  # a lagging shard's records
        elif held_start == newest:
            on_counter.append(ex.CounterBucket(granularity, newest, dict(starts[newest]), False, held_start))
        else:
            if held_start is not None and any(held_counts.values()):
                to_items[(granularity, held_start)].update(held_counts)
            moved = ex.CounterBucket(
                granularity, newest, dict(starts[newest]), True, held_start, tuple(held_counts)
            )
            on_counter.append(moved)
    return on_counter, to_items


def bucket_updates(
    table: str, org_id: str, queue: str, to_items: dict[tuple[str, int], Counter[str]]
) -> list[dict[str, Any]]:
    """The UpdateItem arguments of the bucket items a batch adds to (shared/jobs/queues/
    stream_apply.py applies them, with the counters, in the stream-mark transaction that makes a
    replay add nothing)."""
    updates = []
    for (granularity, start), counts in to_items.items():
        expires = start + BUCKET_SECONDS[granularity] + BUCKET_KEEP_SECONDS[granularity]
        counted = dict(counts)
        updates.append(ex.add_to_activity_bucket(table, org_id, granularity, start, queue, counted, expires))
    return updates


# --- reading -------------------------------------------------------------------------------
# Each queue's buckets sit in its own partition (QSTAT#{org}#{queue}), so an organization-wide read
# is one query per queue, named by the registry. The read units are what one query over the
# organization's partition cost before (a read is billed per 4 KB returned, and the same buckets
# are returned), plus 0.5 per queue with no bucket in the range; the queries run a few at a time.

READ_THREADS = 8


def _bucket_items(
    table: str, org_id: str, granularity: str, from_s: int, to_s: int, queues: Iterable[str] | None
) -> Iterable[dict[str, Any]]:
    """The decoded buckets of `queues` (default: every registered queue) starting in [from_s, to_s]."""
    names = registry.possible(queues) if queues is not None else registry.queue_names_of(table, org_id)
    db = aws_clients.client("dynamodb")

    def one_queue(queue: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        args = ex.query_activity(table, org_id, queue, granularity, from_s, to_s)
        while True:
            response = db.query(**args)
            items.extend(dynamo_codec.decode_item(raw) for raw in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if granularity in ON_COUNTER:
            # The newest bucket is on the counter item (0.5 RRU more per queue); a bucket item of
            # the same start may exist too (a lagging shard's records), so both are summed.
            raw = db.get_item(TableName=table, Key=ex.queue_counter_key(org_id, queue)).get("Item")
            held = held_buckets(dynamo_codec.decode_item(raw)).get(granularity) if raw else None
            if held is not None and from_s <= held[0] <= to_s:
                items.append({"queue_name": queue, "bucket_start": held[0], **held[1]})
        return items

    if len(names) <= 1:
        return [item for name in names for item in one_queue(name)]
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(names))) as pool:
        return [item for items in pool.map(one_queue, names) for item in items]


def _counts(item: dict[str, Any]) -> dict[str, int]:
    return {
        name: value
        for name, value in item.items()
        if isinstance(value, int) and name not in ("bucket_start", "expires_ttl")
    }


def read(
    table: str, org_id: str, granularity: str, from_s: int, to_s: int, queues: Iterable[str] | None = None
) -> dict[str, Counter[str]]:
    """queue → summed counts of the buckets starting in [from_s, to_s] (of `queues`, default all)."""
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    for item in _bucket_items(table, org_id, granularity, from_s, to_s, queues):
        sums[item["queue_name"]].update(_counts(item))
    return sums


def read_minutes(
    table: str, org_id: str, from_s: int, to_s: int, queues: Iterable[str] | None = None
) -> dict[int, dict[str, Counter[str]]]:
    """minute start → queue → counts of the 1-minute buckets starting in [from_s, to_s]."""
    minutes: dict[int, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for item in _bucket_items(table, org_id, MINUTE, from_s, to_s, queues):
        minutes[int(item["bucket_start"])][item["queue_name"]].update(_counts(item))
    return minutes


def last_24_hours(
    table: str, org_id: str, now_ms: int, queues: Iterable[str] | None = None
) -> dict[str, Counter[str]]:
    """The current hour and the 23 before it (a 23-24 h window, whole UTC hours)."""
    hour = (now_ms // 1000) // 3600 * 3600
    return read(table, org_id, HOURLY, hour - 23 * 3600, hour, queues)


def last_hour(
    table: str, org_id: str, now_ms: int, queues: Iterable[str] | None = None
) -> dict[str, Counter[str]]:
    """The current minute and the 59 before it (a 59-60 minute window: the same minutes as
    GET /api/v1/dashboard/activity's points, so the dashboard's hour agrees with its charts)."""
    # One query per queue of up to 60 items (~240 bytes each when every minute saw every kind of
    # change; a minute with no change has no item): at most 2 RRU per queue, eventually consistent,
    # where the 12 five-minute buckets it replaced were at most 0.5. The reads are per dashboard
    # view; the 2 WRU per queue it saves are per stream batch.
    minute = (now_ms // 1000) // 60 * 60
    return read(table, org_id, MINUTE, minute - (LAST_HOUR_MINUTES - 1) * 60, minute, queues)


def today(
    table: str, org_id: str, now_ms: int, since_ms: int | None = None, queues: Iterable[str] | None = None
) -> dict[str, Counter[str]]:
    """Since UTC midnight (or since `since_ms`, an admin usage reset, if later), in whole hours."""
    now_s = now_ms // 1000
    start = now_s // 86400 * 86400
    if since_ms is not None:
        start = max(start, (since_ms // 1000) // 3600 * 3600)
    return read(table, org_id, HOURLY, start, now_s // 3600 * 3600, queues)


def total(sums: dict[str, Counter[str]], name: str, queues: Iterable[str] | None = None) -> int:
    wanted = set(queues) if queues is not None else None
    return sum(c[name] for q, c in sums.items() if wanted is None or q in wanted)


def average(
    sums: dict[str, Counter[str]], sum_name: str, count_name: str, queues: Iterable[str] | None = None
) -> float | None:
    n = total(sums, count_name, queues)
    return round(total(sums, sum_name, queues) / n, 3) if n else None
