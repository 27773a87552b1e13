"""Helpers of the stream-exactness tests: the records the dispatcher's mapping would deliver, and
the counts a full table scan gives (what the stream-kept counters must equal)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from local_stack.stream_poller import StreamPoller
from shared.plumbing import aws_clients, dynamo_codec, schema
from shared.plumbing.config import settings


class Recorder:
    """Reads the stream the way the dispatcher's event source mapping does (same filter) and
    keeps the records instead of handling them."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.poller = StreamPoller(
            settings().table_name, self._keep, filters=schema.DISPATCHER_STREAM.filters
        )

    def _keep(self, records: list[dict[str, Any]]) -> None:
        self.records.extend(records)

    def new_records(self) -> list[dict[str, Any]]:
        start = len(self.records)
        while self.poller.poll_once():
            pass
        return self.records[start:]


def scanned_counts() -> dict[tuple[str, str], dict[str, int]]:
    """(org, queue) → {status: jobs}, from every job item in the table."""
    db = aws_clients.client("dynamodb")
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    args: dict[str, Any] = {"TableName": settings().table_name}
    while True:
        page = db.scan(**args)
        for raw in page.get("Items", []):
            if raw["pk"]["S"].startswith("JOB#"):  # job items: JOB#{org}#{shard} / {job id}
                item = dynamo_codec.decode_item(raw)
                counts[(item["org_id"], item["queue_name"])][item["status"]] += 1
        if "LastEvaluatedKey" not in page:
            break
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {queue: dict(by_status) for queue, by_status in counts.items()}


def stored_counts(org_ids: list[str]) -> dict[tuple[str, str], dict[str, int]]:
    """The stream-kept counters, zero counts left out (a registered queue may have none yet)."""
    from shared.jobs.queues.counters import read_counts

    found: dict[tuple[str, str], dict[str, int]] = {}
    for org_id in org_ids:
        for queue, by_status in read_counts(settings().table_name, org_id).items():
            nonzero = {status: n for status, n in by_status.items() if n}
            if nonzero:
                found[(org_id, queue)] = nonzero
    return found


def created_totals(org_id: str) -> dict[str, int]:
    """queue → created_total (the monotonic counter /metrics exposes), from each registered queue's
    counter item (its own partition, QSTAT#{org}#{queue})."""
    from shared.jobs import expressions as ex
    from shared.jobs.queues import registry

    db = aws_clients.client("dynamodb")
    totals: dict[str, int] = {}
    for queue in registry.queue_names_of(settings().table_name, org_id):
        raw = db.get_item(
            TableName=settings().table_name, Key=ex.queue_counter_key(org_id, queue), ConsistentRead=True
        ).get("Item")
        if raw is not None:
            row = dynamo_codec.decode_item(raw)
            totals[row["queue_name"]] = int(row.get("created_total", 0))
    return totals


def scanned_created(bucket_seconds: int) -> dict[tuple[str, int], int]:
    """(queue, bucket start) → jobs created in it, from every job item's created_at: what the
    activity buckets' `created` must add up to."""
    db = aws_clients.client("dynamodb")
    created: Counter[tuple[str, int]] = Counter()
    args: dict[str, Any] = {"TableName": settings().table_name}
    while True:
        page = db.scan(**args)
        for raw in page.get("Items", []):
            if raw["pk"]["S"].startswith("JOB#"):
                item = dynamo_codec.decode_item(raw)
                start = int(item["created_at"]) // 1000 // bucket_seconds * bucket_seconds
                created[(item["queue_name"], start)] += 1
        if "LastEvaluatedKey" not in page:
            break
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return dict(created)


def stored_created(org_id: str, granularity: str, from_s: int, to_s: int) -> dict[tuple[str, int], int]:
    """(queue, bucket start) → `created` of the activity buckets starting in [from_s, to_s], as the
    dashboards read them: the bucket items and the newest bucket the counter item holds."""
    from shared.jobs.queues import activity

    found: dict[tuple[str, int], int] = {}
    for item in activity._bucket_items(settings().table_name, org_id, granularity, from_s, to_s, None):
        key = (item["queue_name"], int(item["bucket_start"]))
        found[key] = found.get(key, 0) + int(item.get("created", 0))
    return {key: n for key, n in found.items() if n}
