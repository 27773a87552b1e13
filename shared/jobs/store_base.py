"""What every part of the job store shares: its collaborators (table, clock, payloads, queue
settings), the counted DynamoDB call, and the reasons a job can fail without its worker.

A ConditionalCheckFailed on a transition is a lost race or a stale index read, never a crash: the
store either skips the candidate (claim, sweeps) or classifies the miss into the contract's error.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.backoff import DEFAULT_BACKOFF, BackoffPolicy
from shared.jobs.model import JobRecord, record_from_item
from shared.jobs.queues.settings import QueueSettings
from shared.jobs.states import JobStatus
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.aws_clients import is_conditional_failure as _is_conditional_failure
from shared.plumbing.clock import Clock, SystemClock
from shared.plumbing.config import settings
from shared.plumbing.payload_store import PayloadStore, encoded_size

S = JobStatus
LEASE_EXPIRED_ERROR = "Lease expired (worker timeout)"
LEASE_EXPIRED_DEADLETTER_ERROR = "Max retries exceeded after lease expiration"
EXPIRED_ERROR = "Expired before it was started (expires_at passed)"
TIMEOUT_ERROR = "Job exceeded its timeout_seconds ({seconds} s)"
TIMEOUT_DEADLETTER_ERROR = "Max retries exceeded after job timeout ({seconds} s)"
OFFLINE_WORKER_ERROR = "Worker went offline"
OFFLINE_WORKER_DEADLETTER_ERROR = "Max retries exceeded after worker went offline"
# Attributes a list row needs: everything but the payload, result and history.
SUMMARY_PROJECTION = (
    "id, org_id, queue_name, #status, priority, retry_count, max_retries, timeout_seconds, last_error, "
    "created_at, updated_at, scheduled_at, started_at, completed_at, tags, job_type"
)


# --- where a payload lives (docs/architecture.md, "The job item") --------------------------
# Every transition rewrites the whole job item and DynamoDB bills a write by the started KB, so the
# payload rides in the item only while the item stays within 1 KB on its largest write: up to
# INLINE_PAYLOAD_BYTES stored bytes, brotli-compressed (attribute `pz`) when that saves a tenth,
# else as text (`payload`). A larger payload goes to an item of its own (`pl` = 1 in the job
# item), written once at create and read once per claim; past the S3 limit, to S3 (`payload_ref`).
INLINE_PAYLOAD_BYTES = 500
MAX_READY_SHARDS = 64
SPLIT_MARKER = "pl"
_MIN_SAVING = 0.9
# brotli's best quality (11) costs ~2.2 ms per KB of JSON against ~0.09 ms at quality 5, for ~9%
# smaller output (realistic 1 KB: 415 against 454 bytes). Writes are billed by the started KB, so
# those bytes only matter when they decide whether the payload fits the job item: quality 5 first,
# quality 11 only for a small payload that quality 5 left too large to ride inline.
_FAST_QUALITY = 5
_BEST_QUALITY_UP_TO = 4096


def pack_payload(text: str) -> dict[str, Any]:
    """The payload's attributes (DynamoDB JSON form): {"pz": {"B": ...}} or {"payload": {"S": ...}}."""
    import brotli  # only where payloads are written

    raw = text.encode("utf-8")
    packed = brotli.compress(raw, quality=_FAST_QUALITY)
    if len(packed) > INLINE_PAYLOAD_BYTES and len(raw) <= _BEST_QUALITY_UP_TO:
        packed = brotli.compress(raw, quality=11)
    if len(packed) <= _MIN_SAVING * len(raw):
        return {"pz": {"B": packed}}
    return {"payload": {"S": text}}


def packed_size(packed: dict[str, Any]) -> int:
    value = next(iter(packed.values()))
    return len(value["B"]) if "B" in value else encoded_size(value["S"])


def unpack_payload(item: dict[str, Any]) -> str | None:
    """The payload's JSON text from a decoded job or payload item (None when it has none inline)."""
    if "pz" in item:
        import brotli

        return brotli.decompress(bytes(item["pz"])).decode("utf-8")
    text = item.get("payload")
    return text if isinstance(text, str) else None


def old_item(error: Exception) -> dict[str, Any] | None:
    item = getattr(error, "response", {}).get("Item")
    return dynamo_codec.decode_item(item) if item else None


def deadline_short_of(
    old: dict[str, Any] | None, worker_id: str, lease_id: str | None, wanted_ms: int, now_ms: int
) -> int | None:
    """The job's deadline, when the only thing that failed a heartbeat was asking for more time
    than timeout_seconds leaves (and some is left); None for every other miss."""
    if (
        old is None
        or old.get("status") != S.PROCESSING
        or old.get("assigned_worker_id") != worker_id
        or (lease_id is not None and old.get("lease_id") != lease_id)
        or old.get("lease_expires_at", 0) <= now_ms
    ):
        return None
    deadline_ms = old.get("deadline_at")
    if deadline_ms is None or deadline_ms >= wanted_ms or deadline_ms <= now_ms:
        return None
    return int(deadline_ms)


@dataclass
class NewJob:
    org_id: str
    queue_name: str
    payload_text: str
    priority: int
    max_retries: int
    timeout_seconds: int
    scheduled_at: int | None = None
    expires_at: int | None = None
    idempotency_key: str | None = None
    tags_text: str | None = None
    parent_job_id: str | None = None
    completion_webhook: str | None = None
    completion_webhook_secret: str | None = None
    job_type: str | None = None
    retry_backoff: dict[str, Any] | None = None  # the job's own backoff settings (shared/jobs/backoff.py)
    # Dependencies (docs/workflows.md): a job with parents is created gated, out of the ready index.
    depends_on: list[str] | None = None
    dependency_mode: str = "all"
    dependents: list[str] | None = None  # known at create inside a workflow
    workflow_id: str | None = None
    workflow_key: str | None = None


@dataclass
class CallStats:
    """Counts of DynamoDB calls this store made; the benchmarks and the race test read them."""

    calls: int = 0
    conditional_failures: int = 0
    claims: int = 0


class StoreBase:
    def __init__(
        self,
        table: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        payloads: PayloadStore | None = None,
        shards: int | None = None,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        queue_settings: QueueSettings | None = None,
    ) -> None:
        self.table = table or settings().table_name
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.payloads = payloads or PayloadStore()
        self.shards = shards or settings().ready_shards
        self.job_shards = settings().job_shards
        self.backoff = backoff
        self.queue_settings = queue_settings or QueueSettings(self.table)
        self.stats = CallStats()
        # Contention memory of this process, per (org, queue) (see shared/jobs/claim_policy.py): races on
        # one queue must not shuffle the claim order of another. Queues back at strict order are
        # dropped, so the map only holds the queues contended right now.
        self._spread: dict[tuple[str, str], float] = {}
        self._spread_lock = threading.Lock()
        # Jobs this store claimed moments ago: job id → until when (epoch ms) a claim skips them
        # (shared/jobs/claim_policy.py, "Own claims"). Guarded by _spread_lock.
        self._own_claims: dict[str, int] = {}

    # --- plumbing ------------------------------------------------------------------------

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.stats.calls += 1
        try:
            return getattr(self._db, operation)(**kwargs)
        except Exception as error:
            if _is_conditional_failure(error):
                self.stats.conditional_failures += 1
            raise

    def _record(
        self, item: dict[str, Any], with_payload: bool = True, split: dict[str, str | None] | None = None
    ) -> JobRecord:
        """The job of `item`; a payload in an item of its own is read (or taken from `split`)."""
        payload = result = None
        if with_payload:
            if item.get(SPLIT_MARKER):
                found = split if split is not None and item["id"] in split else None
                own = [(item["id"], str(item[SPLIT_MARKER]))]
                text = (found or self._split_payloads(item["org_id"], own)).get(item["id"])
                payload = self.payloads.load(text, None)
            else:
                payload = self.payloads.load(unpack_payload(item), item.get("payload_ref"))
            result = self.payloads.load(item.get("result"), item.get("result_ref"))
        return record_from_item(item, payload, result)

    def _split_payloads(self, org_id: str, jobs: list[tuple[str, str]]) -> dict[str, str | None]:
        """Payload texts of jobs whose payload is an item of its own, by job id, from (job id, the
        job item's `pl`) pairs: one consistent batch read."""
        found: dict[str, str | None] = {job_id: None for job_id, _ in jobs}
        unique = list(dict.fromkeys(jobs))
        for start in range(0, len(unique), 100):
            keys = [
                ex.payload_key(org_id, job_id, attempt) for job_id, attempt in unique[start : start + 100]
            ]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._call("batch_get_item", RequestItems=request)
                for raw in response.get("Responses", {}).get(self.table, []):
                    job_id = raw["pk"]["S"].split("#")[2]  # JOBP#{org}#{job}#{attempt}
                    found[job_id] = unpack_payload(dynamo_codec.decode_item(raw))
                request = response.get("UnprocessedKeys") or {}
        return found

    def ready_shards_of(self, org_id: str, queue: str) -> int:
        """How many ready shards the queue's jobs spread over: its settings' `ready_shards` (1-64,
        raised for a hot queue, never lowered: claims read shards below it only), else the
        deployment's SPOOLED_READY_SHARDS. Read through the per-container settings cache."""
        wanted = self.queue_settings.get(org_id, queue).get("ready_shards")
        if isinstance(wanted, int) and not isinstance(wanted, bool) and 1 <= wanted <= MAX_READY_SHARDS:
            return wanted
        return self.shards

    def _forget_own_claim(self, job_id: str) -> None:
        """The job goes back to pending through this store: the next claim may take it at once."""
        with self._spread_lock:
            self._own_claims.pop(job_id, None)

    def _get_items(
        self, org_id: str, job_ids: list[str], summary: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Job items by id (decoded; a missing job is left out), consistent, 100 keys a call; with
        `summary`, only SUMMARY_PROJECTION's attributes."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), 100):
            keys = [ex.job_key(org_id, job_id) for job_id in unique[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            if summary:
                request[self.table]["ProjectionExpression"] = SUMMARY_PROJECTION
                request[self.table]["ExpressionAttributeNames"] = {"#status": "status"}
            while request:
                response = self._call("batch_get_item", RequestItems=request)
                for raw in response.get("Responses", {}).get(self.table, []):
                    item = dynamo_codec.decode_item(raw)
                    found[item["id"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def _get_item(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        found = self._call(
            "get_item", TableName=self.table, Key=ex.job_key(org_id, job_id), ConsistentRead=True
        )
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    def conditional_update(self, args: dict[str, Any]) -> bool:
        """An UpdateItem whose failed condition means "someone else did it": False, not an error."""
        try:
            self._call("update_item", **args)
            return True
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            return False
