"""Counter and activity deltas of a stream batch, applied exactly once per stream record.

Lambda re-delivers a stream batch whole (a crashed or timed-out invocation) or from a reported
record on (ReportBatchItemFailures), and each retry of a shard starts at its checkpoint; it never
bisects the dispatcher's batches (stacks/dispatcher.py). So each (queue, first record of the batch)
gets a watermark item: the last record of that queue whose deltas are applied
(shared/jobs/expressions/queues.py, "stream watermarks"). A delivery reads the marks of its queues
(one BatchGetItem), folds only the records after each mark, and applies them in one
TransactWriteItems per queue whose first item moves the mark, conditioned on the value read: a
replay adds nothing, a concurrent duplicate is cancelled whole.

The caller applies only the prefix of the batch whose side effects succeeded and reports the next
record as the batch item failure, so the retry starts at a record whose marks do not exist yet and
whose deltas were never applied. A crash after the commit retries the batch from the same first
record, whose mark says what is done; a longer batch from that record applies only what is new.

Cost (on-demand; a transaction bills each item twice): per queue and batch, 2 WRU for the mark,
2 for the counter item, which also holds the newest hourly and 1-minute activity buckets
(shared/jobs/queues/activity.py, "The newest buckets ride on the counter item"), 2 per bucket item
a batch writes (a bucket moved off the counter when a newer one starts, about once a minute and
once an hour per active queue; a lagging shard's older records) and per registered worker the
batch changes (its credits and the jobs it took or let go, one update: ex.settle_worker); plus 1
RRU to read the marks, 1 RRU for the counter item and 0.5 RRU per worker (read first, so an
unregistered one does not cancel the transaction).
Measured (tests/functional/dispatcher/test_stream_exactness.py, test_what_exactness_costs_per_record):
a 100-record batch of one queue in the minute its counter holds is one transaction of 2 items, 4
WRU, 0.04 WRU per record, half of it the mark. The unguarded ADDs it replaces cost 5 WRU for such
a batch, and counted a replay twice. (With the mark also written under the middle record's key for
a bisected retry, a 5-minute bucket, and the buckets as items of their own, it was 12-14 WRU.)
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.queues import activity as job_activity
from shared.jobs.queues import counters as queue_counters
from shared.jobs.workers import registry as worker_registry
from shared.plumbing import aws_clients, dynamo_codec

logger = logging.getLogger(__name__)

QueueKey = tuple[str, str]
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
MARK_KEEP_SECONDS = 2 * 86400  # a shard's batch is retried for at most its records' 24 h
CONFLICT_RETRIES = 5  # a concurrent write to a counter item (another shard's batch, a registration)


class MarkMoved(RuntimeError):
    """Another delivery of the same records applied them first; re-read and go on."""


def sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def queue_of(record: dict[str, Any]) -> QueueKey | None:
    change = record.get("dynamodb", {})
    for image in (change.get("NewImage"), change.get("OldImage")):
        if image and ex.is_job_image(image):
            return image["org_id"]["S"], image["queue_name"]["S"]
    return None


def by_queue(records: Iterable[dict[str, Any]]) -> dict[QueueKey, list[dict[str, Any]]]:
    grouped: dict[QueueKey, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        queue = queue_of(record)
        if queue is not None:
            grouped[queue].append(record)
    return grouped


def read_marks(table: str, first: str, queues: Iterable[QueueKey]) -> dict[QueueKey, str]:
    db = aws_clients.client("dynamodb")
    wanted = list(queues)
    marks: dict[QueueKey, str] = {}
    by_pk = {ex.stream_mark_key(org, queue, first)["pk"]["S"]: (org, queue) for org, queue in wanted}
    for start in range(0, len(wanted), 100):
        keys = [ex.stream_mark_key(org, queue, first) for org, queue in wanted[start : start + 100]]
        request = ex.read_stream_marks(table, keys)
        while request:
            response = db.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                marks[by_pk[raw["pk"]["S"]]] = raw["w"]["S"]
            request = response.get("UnprocessedKeys") or {}
    return marks


COUNTER = ("", "")  # the owner of the counter item's place in a transaction (not a worker)


def read_counter(table: str, queue: QueueKey) -> tuple[dict[str, Any], int | None]:
    """The queue's counter item (decoded, {} if none yet) and its version, read before each try of
    a transaction: the newest activity buckets it holds decide what the transaction moves."""
    raw = aws_clients.client("dynamodb").get_item(**ex.read_queue_counter(table, *queue)).get("Item")
    counter = dynamo_codec.decode_item(raw) if raw else {}
    version = counter.get("ver")
    return counter, int(version) if version is not None else None


def _items(
    table: str,
    queue: QueueKey,
    chunk: list[dict[str, Any]],
    mark: tuple[str, str | None],
    now_ms: int,
    skip_workers: set[tuple[str, str]],
) -> tuple[list[dict[str, Any]], list[tuple[str, str] | None]]:
    """The transaction of one chunk: the mark first, then counters, buckets, workers; and, per
    item, the worker it credits (to drop an unregistered one on a failed condition)."""
    org_id, name = queue
    first, read = mark
    last = sequence(chunk[-1])
    expires = now_ms // 1000 + MARK_KEEP_SECONDS
    items: list[dict[str, Any]] = [
        {"Update": ex.advance_stream_mark(table, org_id, name, first, read, last, expires)}
    ]
    owners: list[tuple[str, str] | None] = [None]
    deltas = queue_counters.deltas_from_records(chunk).get(queue, {})
    activity = job_activity.fold(chunk)
    totals = dict(activity.totals.get(queue, {}))
    counter, version = read_counter(table, queue)
    on_counter, to_items = job_activity.plan_buckets(activity, queue, job_activity.held_buckets(counter))
    if deltas or totals or on_counter:
        update = ex.add_to_queue_counters(table, org_id, name, deltas, now_ms, totals, on_counter, version)
        items.append({"Update": update})
        owners.append(COUNTER)
    for update in job_activity.bucket_updates(table, org_id, name, to_items):
        items.append({"Update": update})
        owners.append(None)
    held = worker_registry.lease_changes(chunk)
    for org, worker_id in dict.fromkeys([*activity.workers, *held]):
        if (org, worker_id) in skip_workers:
            continue
        took, let_go = held.get((org, worker_id), ((), ()))
        counts = dict(activity.workers.get((org, worker_id), {}))
        items.append({"Update": ex.settle_worker(table, worker_id, org, counts, took, let_go)})
        owners.append((org, worker_id))
    return items, owners


def unregistered_workers(table: str, workers: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (org, worker) pairs with no worker item of that organization: a claim by an unregistered
    worker id credits nobody. Read first (0.5 RRU a worker), so that the transaction's condition on
    the worker, there for a worker deleted meanwhile, almost never cancels it."""
    db = aws_clients.client("dynamodb")
    wanted = list(dict.fromkeys(workers))
    found: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), 100):
        keys = [ex.worker_key(org, worker) for org, worker in wanted[start : start + 100]]
        request: dict[str, Any] = {table: {"Keys": keys, "ProjectionExpression": "pk, org_id"}}
        while request:
            response = db.batch_get_item(RequestItems=request)
            pks = {
                (raw["pk"]["S"], raw.get("org_id", {}).get("S"))
                for raw in response.get("Responses", {}).get(table, [])
            }
            for org, worker in wanted[start : start + 100]:
                if (ex.worker_key(org, worker)["pk"]["S"], org) in pks:
                    found.add((org, worker))
            request = response.get("UnprocessedKeys") or {}
    return set(wanted) - found


def _commit(
    build: Callable[[set[tuple[str, str]]], tuple[list[dict[str, Any]], list[tuple[str, str] | None]]],
    skip: set[tuple[str, str]],
    first_try: tuple[list[dict[str, Any]], list[tuple[str, str] | None]] | None = None,
) -> bool:
    """Run one chunk's transaction; False when it had nothing to apply. Raises MarkMoved."""
    db = aws_clients.client("dynamodb")
    skip = set(skip)
    for attempt in range(CONFLICT_RETRIES + 1):
        items, owners = first_try if attempt == 0 and first_try else build(skip)
        if len(items) == 1:  # the mark alone: these records change no count
            return False
        try:
            db.transact_write_items(TransactItems=items)
            return True
        except Exception as error:
            response = getattr(error, "response", {})
            if response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in response.get("CancellationReasons") or []]
            failed = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
            if 0 in failed:
                raise MarkMoved("the stream mark moved under this delivery") from error
            if any(i < len(owners) and owners[i] == COUNTER for i in failed) and attempt < CONFLICT_RETRIES:
                # Another shard's batch moved the counter's newest bucket (or added to the one this
                # try moves) since the read: read it again and rebuild.
                continue
            workers = [owners[i] for i in failed if i < len(owners) and owners[i] not in (None, COUNTER)]
            unregistered = set(workers)
            if failed and unregistered and len(workers) == len(failed):
                # A claim by an unregistered (or another tenant's) worker id: nothing to credit.
                skip |= {w for w in unregistered if w is not None}
                continue
            if failed or attempt == CONFLICT_RETRIES:
                raise
            time.sleep(0.05 * (attempt + 1))  # TransactionConflict: another writer on a counter item
    return False


def apply(table: str, records: list[dict[str, Any]], now_ms: int) -> int:
    """Apply the deltas of `records` (a prefix of the delivered batch, in stream order: its first
    record names the marks) that no earlier delivery applied; returns how many transactions
    committed."""
    if not records:
        return 0
    first = sequence(records[0])
    grouped = by_queue(records)
    workers = [*job_activity.fold(records).workers, *worker_registry.lease_changes(records)]
    skip = unregistered_workers(table, workers)
    committed = 0
    for _ in range(3):  # a moved mark: read it again and apply what is still left
        try:
            marks = read_marks(table, first, grouped)
            for queue, queue_records in grouped.items():
                committed += _apply_queue(table, queue, queue_records, first, marks.get(queue), now_ms, skip)
            return committed
        except MarkMoved:
            logger.warning("a stream mark moved under this delivery; reading it again")
    raise MarkMoved("stream marks kept moving under this delivery")


def _apply_queue(
    table: str,
    queue: QueueKey,
    records: list[dict[str, Any]],
    first: str,
    read: str | None,
    now_ms: int,
    skip: set[tuple[str, str]],
) -> int:
    todo = [r for r in records if read is None or ex.padded_sequence(sequence(r)) > read]
    committed = 0
    pending = [todo] if todo else []
    while pending:
        chunk = pending.pop(0)

        def build(
            skip: set[tuple[str, str]], chunk: list[dict[str, Any]] = chunk, read: str | None = read
        ) -> tuple[list[dict[str, Any]], list[tuple[str, str] | None]]:
            return _items(table, queue, chunk, (first, read), now_ms, skip)

        built = build(skip)
        if len(built[0]) > MAX_TRANSACTION_ITEMS and len(chunk) > 1:
            half = len(chunk) // 2
            pending[:0] = [chunk[:half], chunk[half:]]  # in order: each half moves the mark on
            continue
        if _commit(build, skip, built):
            committed += 1
            read = ex.padded_sequence(sequence(chunk[-1]))
    return committed
