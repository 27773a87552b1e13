"""Flow control per queue, opt-in through the queue's configuration (docs/flow-control.md).

  rate_limit                 jobs started per second: a token bucket (GCRA) that claims draw from
  settings.rate_limit_burst  the bucket's size (default: one second of rate_limit)
  settings.max_concurrency   jobs processing at once: a slot per job, held from claim to release

A claim beyond either gets fewer jobs, or none, never an error. A queue without them pays nothing:
the claim already reads the queue's configuration item (for pause), and the limits come from it.

Slots are released where a job stops processing under its lease: at complete (directly), and from
the table's stream for every other way out (fail, lease expiry, an offline worker's release,
cancel, purge) and as a backstop. A release names the lease, so a replay removes nothing. A slot
whose job is no longer processing under it (a claimer that died between reserving and claiming)
is repaired when the queue is found full.

Throughput: each bucket or slot item is one DynamoDB partition key (≤ 1,000 writes/s). A draw is
one write per claim call and a job costs its slot two or three writes (reserve, release, the
stream's no-op release), so one item carries ~1,000 claim calls/s or ~350 jobs/s. Both are
sharded: a bucket per RATE_PER_SHARD jobs/s of rate_limit (each with its share of rate and burst)
and a slot item per SLOTS_PER_SHARD of max_concurrency (each with its share of the slots; a job's
slot lives in the shard its id hashes to), so a queue's ceiling grows with its limits, past 1,000
jobs/s.
"""

from __future__ import annotations

import logging
import math
import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from shared.jobs.expressions import flow_control as fx
from shared.jobs.expressions import is_job_image, job_key
from shared.jobs.queues.settings import QueueSettings, settings_of
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.aws_clients import is_conditional_failure
from shared.plumbing.clock import Clock, SystemClock
from shared.plumbing.config import settings

logger = logging.getLogger("spooled.flow")

RATE_PER_SHARD = 250  # jobs/s a bucket shard hands out: ≤ 250 draws/s + refunds on one item
SLOTS_PER_SHARD = 32
MAX_SHARDS = 32
MAX_CONCURRENCY = 10_000
ITEM_TTL_SECONDS = 7 * 24 * 3600
STALE_RESERVATION_MS = 60_000  # a slot this old whose job is not processing under it has leaked
_DRAW_ATTEMPTS = 3


@dataclass(frozen=True)
class FlowLimits:
    rate_limit: int | None = None
    burst: int | None = None
    max_concurrency: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.rate_limit or self.max_concurrency)

    @staticmethod
    def of(config_item: dict[str, Any] | None) -> FlowLimits:
        """From a decoded queue-config item; values that are not positive integers are ignored."""
        if not config_item:
            return NO_LIMITS
        extra = settings_of(config_item)
        rate, burst, cap = (
            _positive(config_item.get("rate_limit")),
            _positive(extra.get("rate_limit_burst")),
            _positive(extra.get("max_concurrency")),
        )
        if not rate and not cap:
            return NO_LIMITS
        return FlowLimits(rate, burst if rate else None, min(cap, MAX_CONCURRENCY) if cap else None)

    @property
    def rate_shards(self) -> int:
        return min(MAX_SHARDS, max(1, math.ceil((self.rate_limit or 0) / RATE_PER_SHARD)))

    @property
    def slot_shards(self) -> int:
        return min(MAX_SHARDS, max(1, math.ceil((self.max_concurrency or 0) / SLOTS_PER_SHARD)))

    def shard_capacity(self, shard: int) -> int:
        total, shards = self.max_concurrency or 0, self.slot_shards
        return total // shards + (1 if shard < total % shards else 0)


NO_LIMITS = FlowLimits()


def _positive(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value >= 1 and float(value).is_integer():
        return int(value)
    return None


def slot_shard(job_id: str, shards: int) -> int:
    return zlib.crc32(job_id.encode("utf-8")) % shards if shards > 1 else 0


@dataclass
class FlowStats:
    writes: int = 0  # write requests (a conditional write that fails still costs one)
    reads: int = 0


class SlotGate:
    """What the claim loop asks before each conditional claim write (shared/jobs/worker_protocol.py)."""

    def __init__(self, flow: FlowControl, org_id: str, queue: str, limits: FlowLimits) -> None:
        self.flow, self.org_id, self.queue, self.limits = flow, org_id, queue, limits
        self.full_shards: set[int] = set()

    @property
    def full(self) -> bool:
        """Every shard refused a slot in this claim: no candidate can be claimed."""
        return len(self.full_shards) >= self.limits.slot_shards

    def reserve(self, job_id: str, lease_id: str, now_ms: int) -> bool:
        shard = slot_shard(job_id, self.limits.slot_shards)
        if shard in self.full_shards:
            return False
        if self.flow.reserve(self.org_id, self.queue, self.limits, shard, job_id, lease_id, now_ms):
            return True
        self.full_shards.add(shard)
        return False

    def release(self, job_id: str, lease_id: str) -> None:
        """The claim write after a reserve failed: the job was never processing under this lease."""
        self.flow.release(self.org_id, self.queue, self.limits, job_id, lease_id)


class FlowControl:
    def __init__(
        self, table: str | None = None, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self.table = table or settings().table_name
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.stats = FlowStats()

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    def _update(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """The write's old item when its condition failed (None when it succeeded)."""
        self.stats.writes += 1
        try:
            self._db.update_item(**args)
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            item = getattr(error, "response", {}).get("Item")
            return dynamo_codec.decode_item(item) if item else {}
        return None

    # --- the claim: admit, then settle ---------------------------------------------------

    def admit(
        self, org_id: str, queue: str, limits: FlowLimits, want: int
    ) -> tuple[int, SlotGate | None, Callable[[int], None]]:
        """(how many jobs this claim may start, the slot gate for the claim loop, settle(claimed))."""
        if not limits.active:
            return want, None, _nothing
        granted, shard = want, 0
        if limits.rate_limit:
            shard = self.rng.randrange(limits.rate_shards)
            granted = self.draw(org_id, queue, limits, shard, want)
        gate = SlotGate(self, org_id, queue, limits) if limits.max_concurrency else None

        def settle(claimed: int) -> None:
            if limits.rate_limit and granted > claimed:
                self.refund(org_id, queue, limits, shard, granted - claimed)

        return granted, gate, settle

    def _bucket(self, limits: FlowLimits) -> tuple[int, int]:
        """(µs per token, µs of burst) of one shard."""
        shards = limits.rate_shards
        rate = (limits.rate_limit or 1) / shards
        burst = max(1, math.ceil((limits.burst or limits.rate_limit or 1) / shards))
        interval = math.ceil(1_000_000 / rate)
        return interval, burst * interval

    def draw(self, org_id: str, queue: str, limits: FlowLimits, shard: int, want: int) -> int:
        """Up to `want` tokens from one bucket shard; 0 when it is empty."""
        interval, burst_us = self._bucket(limits)
        want = min(want, burst_us // interval)
        now_us = self.clock.now_ms() * 1000
        expires = now_us // 1_000_000 + ITEM_TTL_SECONDS
        old = self._update(
            fx.take_from_full_bucket(self.table, org_id, queue, shard, now_us, want * interval, expires)
        )
        for _ in range(_DRAW_ATTEMPTS):
            if old is None:
                return want
            tat = int(old.get("tat") or now_us)
            want = min(want, (now_us + burst_us - tat) // interval)
            if want <= 0:
                return 0
            cost = want * interval
            old = self._update(
                fx.take_from_bucket(self.table, org_id, queue, shard, cost, now_us + burst_us - cost, expires)
            )
        return 0  # lost every race for this bucket: the claim gets nothing this time

    def refund(self, org_id: str, queue: str, limits: FlowLimits, shard: int, tokens: int) -> None:
        interval, _ = self._bucket(limits)
        self._update(fx.refund_bucket(self.table, org_id, queue, shard, tokens * interval))

    # --- concurrency slots ---------------------------------------------------------------

    def reserve(
        self, org_id: str, queue: str, limits: FlowLimits, shard: int, job_id: str, lease_id: str, now_ms: int
    ) -> bool:
        capacity = limits.shard_capacity(shard)
        holder = f"{lease_id}|{now_ms}"
        for attempt in range(2):
            expires = now_ms // 1000 + ITEM_TTL_SECONDS
            old = self._update(
                fx.reserve_slot(self.table, org_id, queue, shard, job_id, holder, capacity, expires)
            )
            if old is None:
                return True
            holders = {
                key[len(fx.HOLDER_PREFIX) :]: value
                for key, value in old.items()
                if key.startswith(fx.HOLDER_PREFIX)
            }
            if attempt or not self._repair(org_id, shard, queue, holders, now_ms):
                return False
        return False

    def _repair(self, org_id: str, shard: int, queue: str, holders: dict[str, str], now_ms: int) -> bool:
        """Drop slots held long enough whose job is not processing under that lease; True if any."""
        repaired = False
        for job_id, holder in holders.items():
            lease_id, _, reserved = str(holder).rpartition("|")
            if not reserved.isdigit() or now_ms - int(reserved) < STALE_RESERVATION_MS:
                continue
            self.stats.reads += 1
            found = self._db.get_item(
                TableName=self.table,
                Key=job_key(org_id, job_id),
                ConsistentRead=True,
                ProjectionExpression="#s, lease_id",
                ExpressionAttributeNames={"#s": "status"},
            ).get("Item")
            job = dynamo_codec.decode_item(found) if found else {}
            if job.get("status") == "processing" and job.get("lease_id") == lease_id:
                continue
            logger.warning("flow control: slot of %s in %s had leaked; released", job_id, queue)
            repaired |= self._update(fx.drop_holder(self.table, org_id, queue, shard, job_id, holder)) is None
        return repaired

    def release(self, org_id: str, queue: str, limits: FlowLimits, job_id: str, lease_id: str) -> None:
        shard = slot_shard(job_id, limits.slot_shards)
        self._update(fx.release_slot(self.table, org_id, queue, shard, job_id, lease_id))

    def after_complete(
        self, org_id: str, queue: str, job_id: str, lease_id: str | None, queue_settings: QueueSettings
    ) -> None:
        """The slot back at once on the common way out; the stream would release it a moment later."""
        limits = caps_from(queue_settings)(org_id, queue)
        if limits.max_concurrency and lease_id:
            self.release(org_id, queue, limits, job_id, lease_id)

    def release_from_records(
        self, records: Iterable[dict[str, Any]], limits_of: Callable[[str, str], FlowLimits]
    ) -> int:
        """Every job that stopped processing (any way) gives its slot back. Only queues with a
        max_concurrency write; limits_of is the cached queue settings."""
        released = 0
        for org_id, queue, job_id, lease_id in _left_processing(records):
            limits = limits_of(org_id, queue)
            if limits.max_concurrency:
                self.release(org_id, queue, limits, job_id, lease_id)
                released += 1
        return released


def caps_from(queue_settings: QueueSettings) -> Callable[[str, str], FlowLimits]:
    """A queue's max_concurrency from the cached queue settings (what releases need to know)."""

    def limits_of(org_id: str, queue: str) -> FlowLimits:
        cap = _positive(queue_settings.get(org_id, queue).get("max_concurrency"))
        return FlowLimits(max_concurrency=min(cap, MAX_CONCURRENCY)) if cap else NO_LIMITS

    return limits_of


def _nothing(claimed: int) -> None:
    return None


def _left_processing(records: Iterable[dict[str, Any]]) -> Iterable[tuple[str, str, str, str]]:
    for record in records:
        change = record.get("dynamodb", {})
        old = change.get("OldImage") or {}
        if not is_job_image(old) or old.get("status", {}).get("S") != "processing":
            continue
        new = change.get("NewImage") or {}
        lease_id = old.get("lease_id", {}).get("S")
        if not lease_id:
            continue
        if new.get("status", {}).get("S") == "processing" and new.get("lease_id", {}).get("S") == lease_id:
            continue  # a heartbeat, not a way out
        org_id, queue = old.get("org_id", {}).get("S"), old.get("queue_name", {}).get("S")
        job_id = old.get("id", {}).get("S") or old.get("job_id", {}).get("S")
        if org_id and queue and job_id:
            yield org_id, queue, job_id, lease_id
