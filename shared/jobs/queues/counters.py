"""Per-queue job counts by status, kept from the table's stream instead of counted per request.

The stream delivers each change to a job item with its old and new image; a batch is folded into
one ADD per queue, so counting costs about one write per queue per batch, not one per job. The
counts are eventually consistent (a stream batch behind) and exact: the ADD is applied once per
stream record, in a transaction with the queue's stream mark (shared/jobs/queues/stream_apply.py),
however often Lambda re-delivers a batch. So they are never clamped: a negative count would be a
bug to see, not to hide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.queues import registry
from shared.jobs.states import ALL_STATUSES
from shared.plumbing import aws_clients, dynamo_codec

QueueKey = tuple[str, str]  # (org_id, queue_name)


def _job_image(image: dict[str, Any] | None) -> tuple[QueueKey, str] | None:
    if not image or not ex.is_job_image(image):
        return None
    return (image["org_id"]["S"], image["queue_name"]["S"]), image["status"]["S"]


def deltas_from_records(records: Iterable[dict[str, Any]]) -> dict[QueueKey, dict[str, int]]:
    """Fold stream records into count changes per queue and status (zero changes dropped)."""
    deltas: dict[QueueKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in records:
        change = record.get("dynamodb", {})
        old = _job_image(change.get("OldImage"))
        new = _job_image(change.get("NewImage"))
        if old == new:
            continue  # an update that did not change the status (heartbeat, priority)
        if old:
            deltas[old[0]][old[1]] -= 1
        if new:
            deltas[new[0]][new[1]] += 1
    return {
        queue: {status: n for status, n in by_status.items() if n}
        for queue, by_status in deltas.items()
        if any(by_status.values())
    }


def read_counts(table: str, org_id: str, queues: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """queue name → {status: count} for `queues` (by default every queue the organization
    registered; a registered queue the stream has not counted yet: all zeros). A queue named in
    `queues` that has neither a registry entry nor a counter item is left out.

    Cost: the registry query (when `queues` is None) and one eventually consistent BatchGetItem per
    100 queues, 0.5 read units a queue: each counter item sits in its queue's own partition."""
    if queues is None:
        wanted = registry.queue_names_of(table, org_id)
        registered = set(wanted)
    else:
        wanted = registry.possible(queues)
        registered = set()
    db = aws_clients.client("dynamodb")
    counts: dict[str, dict[str, int]] = {name: dict.fromkeys(ALL_STATUSES, 0) for name in registered}
    for start in range(0, len(wanted), 100):
        request = ex.read_queue_counters(table, org_id, wanted[start : start + 100])
        while request:
            response = db.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = dynamo_codec.decode_item(raw)
                counts[item["queue_name"]] = {status: int(item.get(status, 0)) for status in ALL_STATUSES}
            request = response.get("UnprocessedKeys") or {}
    if queues is not None:
        missing = [name for name in wanted if name not in counts]
        for name in missing:
            if registry.is_registered(table, org_id, name):
                counts[name] = dict.fromkeys(ALL_STATUSES, 0)
    return counts
