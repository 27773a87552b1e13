"""The backlog the minute sweep reports: pending jobs, and how long the oldest claimable one has waited.

Pending depth comes from the stream-kept queue counters (read by key, one BatchGetItem per 100
swept queues). The age is
read only for queues with pending jobs: the head of each ready shard (one item each), then those
heads' created_at and scheduled_at, so that a job that was scheduled or in retry backoff counts
from the moment it became claimable, not from its creation. The head of a shard is its highest
priority, oldest job: with no worker polling, it is the one that waits longest, which is what the
alarm is for (docs/runbook.md). A lower-priority job behind a steady stream of higher-priority work
is not seen; the per-queue depth and the dashboard show that case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.jobs import expressions as ex
from shared.jobs.queues import counters
from shared.plumbing import aws_clients, dynamo_codec


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_pending_age_ms: int  # 0 with nothing claimable


def measure(table: str, queues: Iterable[tuple[str, str]], shards: int, now_ms: int) -> Backlog:
    by_org: dict[str, list[str]] = {}
    for org_id, queue in queues:
        by_org.setdefault(org_id, []).append(queue)
    pending = 0
    oldest = 0
    db = aws_clients.client("dynamodb")
    for org_id, names in by_org.items():
        counts = counters.read_counts(table, org_id, names)  # by key: the swept queues only
        for queue in names:
            waiting = counts.get(queue, {}).get("pending", 0)
            if waiting <= 0:
                continue
            pending += waiting
            heads = []
            for shard in range(shards):
                items = db.query(**ex.query_ready(table, org_id, queue, shard, 1)).get("Items", [])
                heads.extend({"pk": item["pk"], "sk": item["sk"]} for item in items)
            if not heads:
                continue
            found = (
                db.batch_get_item(
                    RequestItems={table: {"Keys": heads, "ProjectionExpression": "created_at, scheduled_at"}}
                )
                .get("Responses", {})
                .get(table, [])
            )
            for raw in found:
                item = dynamo_codec.decode_item(raw)
                since = max(int(item.get("created_at") or 0), int(item.get("scheduled_at") or 0))
                if since:
                    oldest = max(oldest, now_ms - since)
    return Backlog(pending=pending, oldest_pending_age_ms=max(0, oldest))
