"""The DynamoDB job store: creating, claiming and moving jobs through their states.

All keys and expressions come from shared/dynamo_expressions/. A ConditionalCheckFailed on a
transition is a lost race or a stale index read, never a crash: the store either skips the
candidate (claim, sweeps) or classifies the miss into the contract's error (worker calls).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared import aws_clients, claim_policy, dynamo_codec, schema
from shared import backoff as backoff_policy
from shared import dynamo_expressions as ex
from shared.aws_errors import is_conditional_failure as _is_conditional_failure
from shared.backoff import DEFAULT_BACKOFF, BackoffPolicy
from shared.clock import Clock, SystemClock
from shared.config import settings
from shared.dynamo_expressions import workflows as ex_wf
from shared.errors import BadRequest, Conflict, LeaseExpired, NotFound
from shared.job_model import JobRecord, record_from_item
from shared.job_states import JobStatus
from shared.payload_store import PayloadStore, encode_json
from shared.queue_settings import QueueSettings
from shared.timer_queue import due_ms_of

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


def _old_item(error: Exception) -> dict[str, Any] | None:
    item = getattr(error, "response", {}).get("Item")
    return dynamo_codec.decode_item(item) if item else None


def _deadline_short_of(
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
    retry_backoff: dict[str, Any] | None = None  # the job's own backoff settings (shared/backoff.py)
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


class JobStore:
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
        self.backoff = backoff
        self.queue_settings = queue_settings or QueueSettings(self.table)
        self.stats = CallStats()
        # Contention memory of this process, per (org, queue) (see shared/claim_policy.py): races on
        # one queue must not shuffle the claim order of another. Queues back at strict order are
        # dropped, so the map only holds the queues contended right now.
        self._spread: dict[tuple[str, str], float] = {}
        self._spread_lock = threading.Lock()

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

    def _record(self, item: dict[str, Any], with_payload: bool = True) -> JobRecord:
        payload = self.payloads.load(item.get("payload"), item.get("payload_ref")) if with_payload else None
        result = self.payloads.load(item.get("result"), item.get("result_ref")) if with_payload else None
        return record_from_item(item, payload, result)

    def _get_item(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        found = self._call(
            "get_item", TableName=self.table, Key=ex.job_key(org_id, job_id), ConsistentRead=True
        )
        return dynamo_codec.decode_item(found["Item"]) if "Item" in found else None

    # --- create --------------------------------------------------------------------------

    def new_item(
        self, job: NewJob, job_id: str, now_ms: int, offload: bool = False
    ) -> tuple[dict[str, Any], str | None]:
        """The item of a new job (its payload placed inline or in S3; `offload` forces S3)."""
        payloads = PayloadStore(self.payloads.bucket, inline_limit=0) if offload else self.payloads
        payload_inline, payload_ref = payloads.place(job.org_id, job_id, "payload", job.payload_text)
        item: dict[str, Any] = {
            **{k: v["S"] for k, v in ex.job_key(job.org_id, job_id).items()},
            "id": job_id,
            "org_id": job.org_id,
            "queue_name": job.queue_name,
            "priority": job.priority,
            "payload": payload_inline,
            "payload_ref": payload_ref,
            "retry_count": 0,
            "max_retries": job.max_retries,
            "timeout_seconds": job.timeout_seconds,
            "created_at": now_ms,
            "updated_at": now_ms,
            "version": 1,
            "scheduled_at": job.scheduled_at,
            "expires_at": job.expires_at,
            "idempotency_key": job.idempotency_key,
            "tags": job.tags_text,
            "job_type": job.job_type,
            "parent_job_id": job.parent_job_id,
            "completion_webhook": job.completion_webhook,
            "completion_webhook_secret": job.completion_webhook_secret,
            # JSON text: a policy has fractional numbers, which the item codec keeps out of items.
            "retry_backoff": encode_json(job.retry_backoff) if job.retry_backoff else None,
            "events": [{"t": now_ms, "e": "created"}],
            "workflow_id": job.workflow_id,
            "workflow_key": job.workflow_key,
            "depends_on": job.depends_on or None,
            "dependency_mode": job.dependency_mode if job.depends_on else None,
            "dependencies_met": False if job.depends_on else None,
            "dependents": job.dependents or None,
            "org_pk": ex.jobs_by_org_pk(job.org_id),
            "queue_pk": ex.jobs_by_queue_pk(job.org_id, job.queue_name),
            "created_sk": ex.created_sk(now_ms, job_id),
        }
        # One timer per job: the earlier of "becomes due" and "expires" (docs/timers.md).
        due_times = [t for t in (job.expires_at,) if t is not None]
        if job.scheduled_at is not None and job.scheduled_at > now_ms:
            item["status"] = S.SCHEDULED.value
            due_times.append(job.scheduled_at)
        else:
            item["status"] = S.PENDING.value
        if item["status"] == S.PENDING and not job.depends_on:
            item["ready_pk"] = ex.ready_pk(job.org_id, job.queue_name, ex.shard_of(job_id, self.shards))
            item["ready_sk"] = ex.ready_sk(job.priority, now_ms, job_id)
        if due_times:
            item["timer_pk"] = ex.timer_pk(job.org_id, job.queue_name)
            item["timer_sk"] = ex.timer_sk(min(due_times), job_id)
        return item, payload_ref

    def create(self, job: NewJob) -> tuple[str, bool]:
        """Write a new job; with an idempotency key, return the existing job instead of a second one."""
        now_ms = self.clock.now_ms()
        job_id = str(uuid.uuid4())
        if job.idempotency_key:
            existing = self._existing_for_key(job.org_id, job.idempotency_key)
            if existing:
                return existing, False
        item, payload_ref = self.new_item(job, job_id, now_ms)
        # The parents learn of the child in the same transaction, so no parent can finish unseen.
        links = [
            {"Update": ex_wf.link_dependent(self.table, job.org_id, parent_id, job_id)}
            for parent_id in job.depends_on or ()
        ]
        if not job.idempotency_key and not links:
            self._call("put_item", **ex.put_new_job(self.table, item))
            return job_id, True
        claim = (
            [{"Put": ex.put_idempotency_claim(self.table, job.org_id, job.idempotency_key, job_id, now_ms)}]
            if job.idempotency_key
            else []
        )
        try:
            self._call(
                "transact_write_items",
                TransactItems=[*claim, {"Put": ex.put_new_job(self.table, item)}, *links],
            )
            return job_id, True
        except Exception as error:
            if getattr(error, "response", {}).get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            self.payloads.delete(payload_ref)
            if not job.idempotency_key:  # only a parent link can have failed: the parent is gone
                raise BadRequest("parent_job_id not found") from error
            existing = self._existing_for_key(job.org_id, job.idempotency_key)
            if existing is None:  # the key's job was purged in between: nothing to return to
                raise Conflict("A job with this idempotency key is being created; retry") from error
            return existing, False

    def create_many(self, jobs: list[NewJob]) -> list[tuple[str, bool]]:
        """Bulk create. Jobs without an idempotency key go in 25-item batch writes."""
        results: list[tuple[str, bool] | None] = [None] * len(jobs)
        plain: list[tuple[int, dict[str, Any]]] = []
        now_ms = self.clock.now_ms()
        for index, job in enumerate(jobs):
            if job.idempotency_key:
                results[index] = self.create(job)
            else:
                job_id = str(uuid.uuid4())
                item, _ = self.new_item(job, job_id, now_ms)
                plain.append((index, item))
        for start in range(0, len(plain), 25):
            chunk = plain[start : start + 25]
            requests = [{"PutRequest": {"Item": dynamo_codec.encode_item(item)}} for _, item in chunk]
            pending: dict[str, Any] = {self.table: requests}
            while pending:
                response = self._call("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
            for index, item in chunk:
                results[index] = (item["id"], True)
        return [r for r in results if r is not None]

    def _existing_for_key(self, org_id: str, key: str) -> str | None:
        found = self._call(
            "get_item", TableName=self.table, Key=ex.idempotency_key(org_id, key), ConsistentRead=True
        )
        return found["Item"]["job_id"]["S"] if "Item" in found else None

    # --- reads ---------------------------------------------------------------------------

    def get(self, org_id: str, job_id: str) -> JobRecord:
        item = self._get_item(org_id, job_id)
        if item is None:
            raise NotFound()
        return self._record(item)

    def get_many(self, org_id: str, job_ids: list[str], summary: bool = True) -> list[JobRecord]:
        """Batch read by id (consistent); unknown ids are left out. Order follows job_ids."""
        found: dict[str, JobRecord] = {}
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
                    found[item["id"]] = self._record(item, with_payload=not summary)
                request = response.get("UnprocessedKeys") or {}
        return [found[job_id] for job_id in unique if job_id in found]

    def iter_index_ids(
        self, index: schema.GlobalIndex, partition: str, oldest_first: bool = False, page_size: int = 100
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Job ids from a newest-first index, lazily, page by page (with the raw index entry)."""
        start_key = None
        while True:
            response = self._call(
                "query",
                **ex.query_newest_first(self.table, index, partition, page_size, start_key, oldest_first),
            )
            for raw in response.get("Items", []):
                yield ex.job_id_from_pk(raw["pk"]["S"]), raw
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return

    # --- claim ---------------------------------------------------------------------------

    def _ready_candidates(self, org_id: str, queue: str, fetch: int) -> list[dict[str, Any]]:
        """The head of the queue across all ready shards, merged into priority/FIFO order."""
        candidates: list[dict[str, Any]] = []
        for shard in range(self.shards):
            response = self._call("query", **ex.query_ready(self.table, org_id, queue, shard, fetch))
            candidates.extend(response.get("Items", []))
        candidates.sort(key=lambda raw: raw[schema.READY_INDEX.sort_key.name]["S"])
        return candidates[:100]

    def claim(
        self, org_id: str, queue: str, worker_id: str, limit: int, lease_seconds: int
    ) -> list[JobRecord]:
        self.promote_due(org_id, queue)
        with self._spread_lock:
            spread = self._spread.get((org_id, queue), 1.0)
        fetch = claim_policy.candidates_to_fetch(limit, spread)
        candidates = self._ready_candidates(org_id, queue, fetch)
        order = claim_policy.claim_order(candidates, limit, spread, self.rng)
        claimed: list[JobRecord] = []
        lost_races = 0
        batch = uuid.uuid4().hex[:12]
        while order and len(claimed) < limit and lost_races < claim_policy.lost_race_budget(limit):
            raw = order.pop(0)
            now_ms = self.clock.now_ms()
            job_id = ex.job_id_from_pk(raw["pk"]["S"])
            # timeout_seconds caps the lease (docs/timers.md); the ready index projects it.
            timeout_ms = int(raw.get("timeout_seconds", {}).get("N", "0")) * 1000 or None
            lease_ms = min(lease_seconds * 1000, timeout_ms or lease_seconds * 1000)
            lease_expires_ms = now_ms + lease_ms
            try:
                response = self._call(
                    "update_item",
                    **ex.claim(
                        self.table,
                        {"pk": raw["pk"], "sk": raw["sk"]},
                        org_id=org_id,
                        queue=queue,
                        job_id=job_id,
                        worker_id=worker_id,
                        lease_id=f"{batch}-{job_id}",
                        lease_expires_ms=lease_expires_ms,
                        now_ms=now_ms,
                        deadline_ms=now_ms + timeout_ms if timeout_ms else None,
                    ),
                )
            except Exception as error:
                if not _is_conditional_failure(error):
                    raise
                old = _old_item(error)
                if (
                    old
                    and old.get("status") in (S.PENDING, S.SCHEDULED)
                    and old.get("expires_at", now_ms + 1) <= now_ms
                ):
                    self._expire(org_id, job_id, now_ms)
                else:
                    lost_races += 1
                    if lost_races == 1:
                        order = claim_policy.after_first_lost_race(order, self.rng)
                continue
            claimed.append(self._record(dynamo_codec.decode_item(response["Attributes"])))
        with self._spread_lock:
            spread = claim_policy.next_spread(self._spread.get((org_id, queue), 1.0), lost_races)
            if spread > 1.0:
                self._spread[(org_id, queue)] = spread
            else:
                self._spread.pop((org_id, queue), None)
        self.stats.claims += len(claimed)
        return claimed

    def _expire(self, org_id: str, job_id: str, now_ms: int) -> None:
        try:
            self._call(
                "update_item",
                **ex.cancel(
                    self.table, ex.job_key(org_id, job_id), now_ms=now_ms, reason=EXPIRED_ERROR, expired=True
                ),
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise

    # --- timers (docs/timers.md) --------------------------------------------------------

    def promote_due(self, org_id: str, queue: str, limit: int = 25) -> int:
        """Act on every due timer of one queue: promote due delayed jobs, expire jobs past their
        expires_at, recover expired leases. Returns how many index entries were due.

        Claims call this first, so a due job is claimable at its second even if no timer fired;
        the dispatcher calls it when a queue's wake message arrives, and its sweep calls it for
        every queue as the safety net for lost messages (shared/job_timers.py).
        """
        now_ms = self.clock.now_ms()
        response = self._call("query", **ex.query_due_timers(self.table, org_id, queue, now_ms, limit))
        items = response.get("Items", [])
        for raw in items:
            job_id = ex.job_id_from_pk(raw["pk"]["S"])
            seen_timer_sk = raw[schema.TIMER_INDEX.sort_key.name]["S"]
            item = self._get_item(org_id, job_id)
            # The index may lag: act only on the timer the item itself still carries.
            if item is not None and item.get("timer_sk") == seen_timer_sk:
                self._act_on_timer(org_id, queue, job_id, item, now_ms)
        return len(items)

    def act_on_timer(self, org_id: str, queue: str, timer_sk: str) -> None:
        """Act on one job's timer, named by a timer message, if the job still has it and it is due.
        A consistent read, not the index: a delay of a fraction of a second can be due before the
        index shows the timer."""
        job_id = timer_sk.split("#", 1)[1]
        item = self._get_item(org_id, job_id)
        if item is not None and item.get("timer_sk") == timer_sk:
            self._act_on_timer(org_id, queue, job_id, item, self.clock.now_ms())

    def current_timer(self, org_id: str, job_id: str) -> str | None:
        """The job's timer_sk now (None: no timer, or no job)."""
        found = self._call(
            "get_item",
            TableName=self.table,
            Key=ex.job_key(org_id, job_id),
            ConsistentRead=True,
            ProjectionExpression="timer_sk",
        )
        return found.get("Item", {}).get("timer_sk", {}).get("S")

    def conditional_update(self, args: dict[str, Any]) -> bool:
        """An UpdateItem whose failed condition means "someone else did it": False, not an error."""
        try:
            self._call("update_item", **args)
            return True
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            return False

    def _act_on_timer(self, org_id: str, queue: str, job_id: str, item: dict[str, Any], now_ms: int) -> None:
        """The one transition a due timer calls for. Every write is conditional on what was read
        (timer_sk, expires_at, retry_count), so a redelivered message or two sweeps at once
        move the job once; a lost race is expected and ignored."""
        seen_timer_sk = item["timer_sk"]
        if due_ms_of(seen_timer_sk) > now_ms:
            return
        status = item.get("status")
        try:
            if status == S.PROCESSING:
                self._recover_expired_lease(org_id, queue, job_id, item, now_ms)
            elif status in (S.PENDING, S.SCHEDULED):
                expires_at = item.get("expires_at")
                if expires_at is not None and expires_at <= now_ms:
                    self._expire(org_id, job_id, now_ms)
                elif item.get("dependencies_met") is False:
                    # Gated: its delay is over but it waits on into pending; the release makes it
                    # claimable (docs/workflows.md).
                    self._call(
                        "update_item",
                        **ex_wf.promote_gated(
                            self.table,
                            ex.job_key(org_id, job_id),
                            seen_timer_sk=seen_timer_sk,
                            next_timer_sk=ex.timer_sk(expires_at, job_id) if expires_at else None,
                            now_ms=now_ms,
                        ),
                    )
                elif "ready_pk" not in item:
                    self._call(
                        "update_item",
                        **ex_wf.promote_released(
                            self.table,
                            ex.job_key(org_id, job_id),
                            org_id=org_id,
                            queue=queue,
                            job_id=job_id,
                            priority=item["priority"],
                            created_ms=item["created_at"],
                            shard=ex.shard_of(job_id, self.shards),
                            seen_timer_sk=seen_timer_sk,
                            now_ms=now_ms,
                            next_timer_sk=ex.timer_sk(expires_at, job_id) if expires_at else None,
                        ),
                    )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise

    def backoff_for(self, item: dict[str, Any]) -> BackoffPolicy:
        """The job's own retry_backoff over its queue's over the store default."""
        queue_settings = self.queue_settings.get(item["org_id"], item["queue_name"])
        own = json.loads(item["retry_backoff"]) if item.get("retry_backoff") else None
        return backoff_policy.resolve(own, queue_settings.get("retry_backoff"), self.backoff)

    def _recover_expired_lease(
        self, org_id: str, queue: str, job_id: str, item: dict[str, Any], now_ms: int
    ) -> None:
        seen_timer_sk = item["timer_sk"]
        key = ex.job_key(org_id, job_id)
        retry_count = item.get("retry_count", 0)
        deadline_ms = item.get("deadline_at")
        timed_out = deadline_ms is not None and item.get("lease_expires_at", 0) >= deadline_ms
        seconds = item.get("timeout_seconds")
        if retry_count < item["max_retries"]:
            due_ms = now_ms + self.backoff_for(item).delay_ms(retry_count, self.rng)
            args = ex.expired_lease_retry(
                self.table,
                key,
                org_id=org_id,
                queue=queue,
                job_id=job_id,
                seen_timer_sk=seen_timer_sk,
                retry_count=retry_count,
                due_ms=due_ms,
                error=TIMEOUT_ERROR.format(seconds=seconds) if timed_out else LEASE_EXPIRED_ERROR,
                now_ms=now_ms,
            )
        else:
            args = ex.expired_lease_dead_letter(
                self.table,
                key,
                org_id=org_id,
                seen_timer_sk=seen_timer_sk,
                retry_count=retry_count,
                error=(
                    TIMEOUT_DEADLETTER_ERROR.format(seconds=seconds)
                    if timed_out
                    else LEASE_EXPIRED_DEADLETTER_ERROR
                ),
                now_ms=now_ms,
            )
        self._call("update_item", **args)

    # --- releases: offline workers, Lambda workers (docs/timers.md) ----------------------

    def processing_job_ids(self, org_id: str, queue: str) -> Iterator[str]:
        """Ids of the queue's processing jobs, from its timers partition (each has a lease timer)."""
        start_key = None
        partition = ex.timer_pk(org_id, queue)
        while True:
            response = self._call(
                "query",
                **ex.query_timer_partition(self.table, partition, status=S.PROCESSING, start_key=start_key),
            )
            for raw in response.get("Items", []):
                yield ex.job_id_from_pk(raw["pk"]["S"])
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return

    def release_from_offline_worker(self, org_id: str, queue: str, worker_id: str) -> int:
        """Give back every job of `queue` that `worker_id` holds: pending after a backoff with
        retry_count + 1, or the DLQ when its retries are spent. Returns how many moved."""
        released = 0
        for job_id in list(self.processing_job_ids(org_id, queue)):
            item = self._get_item(org_id, job_id)
            if item is None or item.get("assigned_worker_id") != worker_id or not item.get("lease_id"):
                continue
            now_ms = self.clock.now_ms()
            retry_count = item.get("retry_count", 0)
            key = ex.job_key(org_id, job_id)
            if retry_count < item["max_retries"]:
                args = ex.offline_worker_retry(
                    self.table,
                    key,
                    org_id=org_id,
                    queue=queue,
                    job_id=job_id,
                    worker_id=worker_id,
                    lease_id=item["lease_id"],
                    retry_count=retry_count,
                    due_ms=now_ms + self.backoff_for(item).delay_ms(retry_count, self.rng),
                    error=OFFLINE_WORKER_ERROR,
                    now_ms=now_ms,
                )
            else:
                args = ex.offline_worker_dead_letter(
                    self.table,
                    key,
                    org_id=org_id,
                    worker_id=worker_id,
                    lease_id=item["lease_id"],
                    retry_count=retry_count,
                    error=OFFLINE_WORKER_DEADLETTER_ERROR,
                    now_ms=now_ms,
                )
            try:
                self._call("update_item", **args)
                released += 1
            except Exception as error:
                if not _is_conditional_failure(error):
                    raise
        return released

    def release_unstarted(self, org_id: str, job_id: str, worker_id: str, lease_id: str) -> bool:
        """A claimed job that never started goes back to the head of its queue, retry_count unchanged."""
        item = self._get_item(org_id, job_id)
        if item is None:
            return False
        expires_at = item.get("expires_at")
        try:
            self._call(
                "update_item",
                **ex.release_unstarted(
                    self.table,
                    ex.job_key(org_id, job_id),
                    org_id=org_id,
                    queue=item["queue_name"],
                    job_id=job_id,
                    worker_id=worker_id,
                    lease_id=lease_id,
                    priority=item["priority"],
                    created_ms=item["created_at"],
                    shard=ex.shard_of(job_id, self.shards),
                    next_timer_sk=ex.timer_sk(expires_at, job_id) if expires_at else None,
                    now_ms=self.clock.now_ms(),
                ),
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            return False
        return True

    def mark_invoked(self, org_id: str, job_id: str, lease_id: str) -> JobRecord | None:
        """The job, if this is the first invocation under `lease_id` and the lease is live; else None."""
        now_ms = self.clock.now_ms()
        args = ex.mark_invoked(self.table, ex.job_key(org_id, job_id), lease_id=lease_id, now_ms=now_ms)
        args["ReturnValues"] = "ALL_NEW"
        try:
            response = self._call("update_item", **args)
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            return None
        return self._record(dynamo_codec.decode_item(response["Attributes"]))

    # --- the worker protocol -------------------------------------------------------------

    def _raise_for_lease_miss(self, old: dict[str, Any] | None, worker_id: str) -> None:
        """Contract §3.3: owned by this worker but expired or another lease → 409; else 404."""
        if old is None or old.get("assigned_worker_id") != worker_id:
            raise NotFound()
        if old.get("status") == S.PROCESSING:
            raise LeaseExpired()
        # A replayed ack of a job this worker already settled (the SDK retries acks): 409 too.
        if old.get("status") in (S.COMPLETED, S.DEADLETTER, S.PENDING):
            raise LeaseExpired("The job is no longer leased to this worker")
        raise NotFound()

    def complete(
        self, org_id: str, job_id: str, worker_id: str, lease_id: str | None, result: Any
    ) -> JobRecord:
        now_ms = self.clock.now_ms()
        result_inline, result_ref = (None, None)
        if result is not None:
            result_inline, result_ref = self.payloads.place(org_id, job_id, "result", encode_json(result))
        try:
            response = self._call(
                "update_item",
                **ex.complete(
                    self.table,
                    ex.job_key(org_id, job_id),
                    worker_id=worker_id,
                    lease_id=lease_id,
                    now_ms=now_ms,
                    result=result_inline,
                    result_ref=result_ref,
                ),
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            self.payloads.delete(result_ref)
            self._raise_for_lease_miss(_old_item(error), worker_id)
            raise
        return self._record(dynamo_codec.decode_item(response["Attributes"]), with_payload=False)

    def fail(self, org_id: str, job_id: str, worker_id: str, lease_id: str | None, error_text: str) -> str:
        """Fail a leased job: back to pending after a backoff, or to the DLQ. Returns the new status."""
        item = self._get_item(org_id, job_id)
        now_ms = self.clock.now_ms()
        if item is None or item.get("assigned_worker_id") != worker_id:
            raise NotFound()
        key = ex.job_key(org_id, job_id)
        retry_count = item.get("retry_count", 0)
        if retry_count < item["max_retries"]:
            due_ms = now_ms + self.backoff_for(item).delay_ms(retry_count, self.rng)
            args = ex.fail_with_retry(
                self.table,
                key,
                org_id=org_id,
                queue=item["queue_name"],
                job_id=job_id,
                worker_id=worker_id,
                lease_id=lease_id,
                retry_count=retry_count,
                due_ms=due_ms,
                error=error_text,
                now_ms=now_ms,
            )
            new_status = S.PENDING
        else:
            args = ex.fail_to_dead_letter(
                self.table,
                key,
                org_id=org_id,
                worker_id=worker_id,
                lease_id=lease_id,
                retry_count=retry_count,
                error=error_text,
                now_ms=now_ms,
            )
            new_status = S.DEADLETTER
        try:
            self._call("update_item", **args)
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            self._raise_for_lease_miss(_old_item(error), worker_id)
            raise
        return new_status.value

    def heartbeat(
        self, org_id: str, job_id: str, worker_id: str, lease_id: str | None, lease_seconds: int
    ) -> None:
        now_ms = self.clock.now_ms()
        lease_expires_ms = now_ms + lease_seconds * 1000
        for _ in range(2):  # the second round only when the first asked to extend past the deadline
            try:
                self._call(
                    "update_item",
                    **ex.heartbeat(
                        self.table,
                        ex.job_key(org_id, job_id),
                        job_id=job_id,
                        worker_id=worker_id,
                        lease_id=lease_id,
                        lease_expires_ms=lease_expires_ms,
                        now_ms=now_ms,
                    ),
                )
                return
            except Exception as error:
                if not _is_conditional_failure(error):
                    raise
                old = _old_item(error)
                deadline_ms = _deadline_short_of(old, worker_id, lease_id, lease_expires_ms, now_ms)
                if deadline_ms is None:
                    self._raise_for_lease_miss(old, worker_id)
                    raise
                # A live lease that would outlast timeout_seconds: extend it to the deadline only.
                lease_expires_ms = deadline_ms
        raise LeaseExpired()

    # --- management ----------------------------------------------------------------------

    def cancel(self, org_id: str, job_id: str) -> None:
        try:
            self._call(
                "update_item", **ex.cancel(self.table, ex.job_key(org_id, job_id), now_ms=self.clock.now_ms())
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            if _old_item(error) is None:
                raise NotFound() from error
            raise Conflict("Only pending or scheduled jobs can be cancelled") from error

    def retry(self, org_id: str, job_id: str, transition: str = "retry") -> JobRecord:
        """failed/deadletter → pending. `retry` adds one to retry_count; `dlq_retry` resets it."""
        item = self._get_item(org_id, job_id)
        if item is None:
            raise NotFound()
        retry_count = item.get("retry_count", 0) + 1 if transition == "retry" else 0
        try:
            response = self._call(
                "update_item",
                **ex.make_ready_again(
                    self.table,
                    ex.job_key(org_id, job_id),
                    transition=transition,
                    org_id=org_id,
                    queue=item["queue_name"],
                    job_id=job_id,
                    priority=item["priority"],
                    created_ms=item["created_at"],
                    shard=ex.shard_of(job_id, self.shards),
                    retry_count=retry_count,
                    now_ms=self.clock.now_ms(),
                    expires_ms=item.get("expires_at"),
                ),
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            raise Conflict("Only failed or dead-lettered jobs can be retried") from error
        return self._record(dynamo_codec.decode_item(response["Attributes"]))

    def set_priority(self, org_id: str, job_id: str, priority: int) -> int:
        """Change a waiting job's priority; returns the old one. 404 unless pending/scheduled."""
        for _ in range(5):  # a concurrent transition bumps the version: read again and retry
            item = self._get_item(org_id, job_id)
            if item is None or item["status"] not in (S.PENDING, S.SCHEDULED):
                raise NotFound()
            new_ready_sk = ex.ready_sk(priority, item["created_at"], job_id) if "ready_pk" in item else None
            try:
                self._call(
                    "update_item",
                    **ex.set_priority(
                        self.table,
                        ex.job_key(org_id, job_id),
                        priority=priority,
                        new_ready_sk=new_ready_sk,
                        seen_version=item.get("version", 0),
                        now_ms=self.clock.now_ms(),
                    ),
                )
                return int(item["priority"])
            except Exception as error:
                if not _is_conditional_failure(error):
                    raise
        raise Conflict("The job changed while its priority was being set; retry")

    def purge_dead_letter(self, org_id: str, job_id: str) -> bool:
        item = self._get_item(org_id, job_id)
        if item is None:
            return False
        try:
            self._call("delete_item", **ex.delete_dead_letter(self.table, ex.job_key(org_id, job_id)))
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            return False
        if item.get("idempotency_key"):
            self._call(
                "delete_item", TableName=self.table, Key=ex.idempotency_key(org_id, item["idempotency_key"])
            )
        self.payloads.delete(item.get("payload_ref"), item.get("result_ref"))
        return True
