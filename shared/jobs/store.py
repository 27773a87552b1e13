"""The DynamoDB job store: creating, reading and managing jobs; the worker protocol and the timed
transitions are its two halves in shared/jobs/worker_protocol.py and shared/jobs/timer_transitions.py.

All keys and expressions come from shared/jobs/expressions/.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.model import JobRecord
from shared.jobs.queues import registry as queue_registry
from shared.jobs.store_base import (
    INLINE_PAYLOAD_BYTES,
    SPLIT_MARKER,
    SUMMARY_PROJECTION,
    CallStats,
    NewJob,
    S,
    old_item,
    pack_payload,
    packed_size,
)
from shared.jobs.timer_transitions import TimerTransitions
from shared.jobs.worker_protocol import WorkerProtocol
from shared.plumbing import dynamo_codec, schema, table_keys
from shared.plumbing.aws_clients import is_conditional_failure as _is_conditional_failure
from shared.plumbing.errors import BadRequest, Conflict, NotFound
from shared.plumbing.payload_store import PayloadStore, encode_json

LIST_READ_THREADS = 16  # a listing's first pages, one query per job partition, read together

__all__ = ["CallStats", "JobStore", "NewJob"]


class JobStore(WorkerProtocol, TimerTransitions):
    # --- create --------------------------------------------------------------------------

    def new_item(
        self, job: NewJob, job_id: str, now_ms: int, offload: bool = False
    ) -> tuple[dict[str, Any], str | None]:
        """The item of a new job, its payload as JSON text inline or in S3 (`offload` forces S3).
        create() then packs the inline text (pack_payload); a workflow writes the item as it is."""
        payloads = PayloadStore(self.payloads.bucket, inline_limit=0) if offload else self.payloads
        payload_inline, payload_ref = payloads.place(job.org_id, job_id, "payload", job.payload_text)
        # Only what a transition or a read needs: every byte here is rewritten by every transition
        # (docs/architecture.md, "The job item"). No listing sort key (the id sorts by creation
        # time), no history of the happy path (created, processing and completed are read off
        # created_at, started_at and completed_at), no updated_at until something changes. Its key
        # is its listing: JOB#{org}#{shard} / id (ex.job_key), no listing index.
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
            "workflow_id": job.workflow_id,
            "workflow_key": job.workflow_key,
            "depends_on": job.depends_on or None,
            "dependency_mode": job.dependency_mode if job.depends_on else None,
            "dependencies_met": False if job.depends_on else None,
            "dependents": job.dependents or None,
        }
        # One timer per job: the earlier of "becomes due" and "expires" (docs/timers.md).
        due_times = [t for t in (job.expires_at,) if t is not None]
        if job.scheduled_at is not None and job.scheduled_at > now_ms:
            item["status"] = S.SCHEDULED.value
            due_times.append(job.scheduled_at)
        else:
            item["status"] = S.PENDING.value
        if item["status"] == S.PENDING and not job.depends_on:
            shard = ex.shard_of(job_id, self.ready_shards_of(job.org_id, job.queue_name))
            item["ready_pk"] = ex.ready_pk(job.org_id, job.queue_name, shard)
            item["ready_sk"] = ex.ready_sk(job.priority, now_ms, job_id)
        if due_times:
            item["timer_pk"] = ex.timer_pk(job.org_id, job.queue_name)
            item["timer_sk"] = table_keys.timer_sk(min(due_times), job_id)
        return item, payload_ref

    def packed(self, item: dict[str, Any], attempt: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The job item in DynamoDB's JSON form with its inline payload packed, and the payload's
        own item when it is too large to ride along (see store_base.INLINE_PAYLOAD_BYTES)."""
        text = item.get("payload")
        raw = dynamo_codec.encode_item({**item, "payload": None})
        if text is None:
            return raw, None
        packed = pack_payload(text)
        if packed_size(packed) <= INLINE_PAYLOAD_BYTES:
            return {**raw, **packed}, None
        raw[SPLIT_MARKER] = {"S": attempt}
        return raw, {**ex.payload_key(item["org_id"], item["id"], attempt), **packed}

    def create(self, job: NewJob) -> tuple[str, bool]:
        """Write a new job; with an idempotency key, return the existing job instead of a second one."""
        now_ms = self.clock.now_ms()
        queue_registry.register(self.table, job.org_id, job.queue_name, now_ms)  # GET /queues
        job_id = ex.new_job_id(now_ms, self.job_shards)
        if job.idempotency_key:
            existing = self._existing_for_key(job.org_id, job.idempotency_key)
            if existing:
                return existing, False
        attempt = os.urandom(4).hex()
        item, payload_ref = self.new_item(job, job_id, now_ms)
        raw_item, payload_item = self.packed(item, attempt)
        if payload_item is not None:
            # Written first, and outside any transaction (which would bill it twice): a job is never
            # visible without its payload. A create that fails after it leaves a payload item keyed
            # by a job id nobody was given (deleted below when the failure is ours to see).
            self._call("put_item", TableName=self.table, Item=payload_item)
        # The parents learn of the child in the same transaction, so no parent can finish unseen.
        links = [
            {"Update": ex.link_dependent(self.table, job.org_id, parent_id, job_id)}
            for parent_id in job.depends_on or ()
        ]
        if not job.idempotency_key and not links:
            self._call("put_item", **ex.put_new_job(self.table, raw_item))
            self.payloads.commit(payload_ref)
            return job_id, True
        # A keyed create stays a transaction with a claim item, not a put of a key-derived id: after
        # a purge frees the key, the next job must get a new id (webhook receivers dedupe on it).
        claim = (
            [{"Put": ex.put_idempotency_claim(self.table, job.org_id, job.idempotency_key, job_id, now_ms)}]
            if job.idempotency_key
            else []
        )
        try:
            self._call(
                "transact_write_items",
                TransactItems=[*claim, {"Put": ex.put_new_job(self.table, raw_item)}, *links],
            )
            self.payloads.commit(payload_ref)
            return job_id, True
        except Exception as error:
            if getattr(error, "response", {}).get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            self.payloads.delete(payload_ref)
            if payload_item is not None:
                self._call(
                    "delete_item", TableName=self.table, Key=ex.payload_key(job.org_id, job_id, attempt)
                )
            if not job.idempotency_key:  # only a parent link can have failed: the parent is gone
                raise BadRequest("parent_job_id not found") from error
            existing = self._existing_for_key(job.org_id, job.idempotency_key)
            if existing is None:  # the key's job was purged in between: nothing to return to
                raise Conflict("A job with this idempotency key is being created; retry") from error
            return existing, False

    def create_many(self, jobs: list[NewJob]) -> list[tuple[str, bool]]:
        """Bulk create. Jobs without an idempotency key go in 25-item batch writes."""
        now_ms = self.clock.now_ms()
        queue_registry.register_all(self.table, ((j.org_id, j.queue_name) for j in jobs), now_ms)
        results: list[tuple[str, bool] | None] = [None] * len(jobs)
        plain: list[tuple[int, str, dict[str, Any], str | None]] = []
        split: list[dict[str, Any]] = []
        for index, job in enumerate(jobs):
            if job.idempotency_key:
                results[index] = self.create(job)
            else:
                job_id = ex.new_job_id(now_ms, self.job_shards)
                item, payload_ref = self.new_item(job, job_id, now_ms)
                raw_item, payload_item = self.packed(item, "0")  # a fresh id: no racing duplicate
                if payload_item is not None:
                    split.append(payload_item)
                plain.append((index, job_id, raw_item, payload_ref))
        self._batch_put(split)  # payload items first: a job is never visible without its payload
        for start in range(0, len(plain), 25):
            chunk = plain[start : start + 25]
            self._batch_put([raw for _, _, raw, _ in chunk])
            for index, job_id, _, payload_ref in chunk:
                self.payloads.commit(payload_ref)  # its S3 object, if any, is no orphan
                results[index] = (job_id, True)
        return [r for r in results if r is not None]

    def _batch_put(self, raw_items: list[dict[str, Any]]) -> None:
        for start in range(0, len(raw_items), 25):
            requests = [{"PutRequest": {"Item": raw}} for raw in raw_items[start : start + 25]]
            pending: dict[str, Any] = {self.table: requests}
            while pending:
                response = self._call("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

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
        unique = [job_id for job_id in dict.fromkeys(job_ids) if ex.is_job_id(job_id)]  # others: no job
        items = self._get_items(org_id, unique, summary=summary)
        return [self._record(items[job_id], with_payload=not summary) for job_id in unique if job_id in items]

    def iter_index_ids(
        self,
        index: schema.GlobalIndex,
        partition: str,
        oldest_first: bool = False,
        page_size: int = 100,
        id_of: Callable[[dict[str, Any]], str] = ex.job_id_from_key,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Item ids (job ids unless `id_of` says how else) from a newest-first index, lazily, page
        by page (with the raw index entry)."""
        start_key = None
        while True:
            response = self._call(
                "query",
                **table_keys.query_newest_first(
                    self.table, index, partition, page_size, start_key, oldest_first
                ),
            )
            for raw in response.get("Items", []):
                yield id_of(raw), raw
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return

    def iter_jobs(self, org_id: str, queue: str | None = None, page_size: int = 25) -> Iterator[JobRecord]:
        """The organization's jobs (of one queue, with `queue`) as summaries (no payload or
        result), newest first, lazily: its job partitions, each read consistently a page at a time
        only as far as the merge needs, merged on the id (which sorts by creation time). The first
        page of every partition is read at once, in parallel: a listing usually needs no other,
        and S partitions one after another cost S round trips of latency (~40 ms at S = 8)."""

        def page(shard: int, start_key: dict[str, Any] | None) -> dict[str, Any]:
            return self._call(
                "query",
                **ex.query_job_partition(
                    self.table,
                    org_id,
                    shard,
                    page_size,
                    queue=queue,
                    start_key=start_key,
                    projection=f"sk, {SUMMARY_PROJECTION}",
                ),
            )

        def shard_items(shard: int, response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
            while True:
                for raw in response.get("Items", []):
                    yield ex.job_id_from_key(raw), raw
                start_key = response.get("LastEvaluatedKey")
                if not start_key:
                    return
                response = page(shard, start_key)

        with ThreadPoolExecutor(max_workers=min(LIST_READ_THREADS, self.job_shards)) as pool:
            firsts = list(pool.map(lambda shard: page(shard, None), range(self.job_shards)))
        shards = (shard_items(shard, first) for shard, first in enumerate(firsts))
        for _, raw in heapq.merge(*shards, key=itemgetter(0), reverse=True):
            yield self._record(dynamo_codec.decode_item(raw), with_payload=False)

    # --- management ----------------------------------------------------------------------

    def cancel(self, org_id: str, job_id: str) -> None:
        try:
            self._call(
                "update_item", **ex.cancel(self.table, ex.job_key(org_id, job_id), now_ms=self.clock.now_ms())
            )
        except Exception as error:
            if not _is_conditional_failure(error):
                raise
            if old_item(error) is None:
                raise NotFound() from error
            raise Conflict("Only pending or scheduled jobs can be cancelled") from error

    def retry(self, org_id: str, job_id: str, transition: str = "retry") -> JobRecord:
        """failed/deadletter → pending. `retry` adds one to retry_count; `dlq_retry` resets it."""
        self._forget_own_claim(job_id)
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
                    shard=ex.shard_of(job_id, self.ready_shards_of(org_id, item["queue_name"])),
                    retry_count=retry_count,
                    now_ms=self.clock.now_ms(),
                    expires_ms=item.get("expires_at"),
                    history=item.get("events"),
                    seen_version=item.get("version"),
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
        if item.get(SPLIT_MARKER):
            self._call(
                "delete_item",
                TableName=self.table,
                Key=ex.payload_key(org_id, job_id, str(item[SPLIT_MARKER])),
            )
        self.payloads.delete(item.get("payload_ref"), item.get("result_ref"))
        return True
