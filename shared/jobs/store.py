"""The DynamoDB job store: creating, reading and managing jobs; the worker protocol and the timed
transitions are its two halves in shared/jobs/worker_protocol.py and shared/jobs/timer_transitions.py.

All keys and expressions come from shared/jobs/expressions/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from shared.jobs import expressions as ex
from shared.jobs.model import JobRecord
from shared.jobs.store_base import SUMMARY_PROJECTION, CallStats, NewJob, S, old_item
from shared.jobs.timer_transitions import TimerTransitions
from shared.jobs.worker_protocol import WorkerProtocol
from shared.plumbing import dynamo_codec, schema, table_keys
from shared.plumbing.aws_clients import is_conditional_failure as _is_conditional_failure
from shared.plumbing.errors import BadRequest, Conflict, NotFound
from shared.plumbing.payload_store import PayloadStore, encode_json

__all__ = ["CallStats", "JobStore", "NewJob"]


class JobStore(WorkerProtocol, TimerTransitions):
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
            "created_sk": table_keys.created_sk(now_ms, job_id),
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
            item["timer_sk"] = table_keys.timer_sk(min(due_times), job_id)
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
            {"Update": ex.link_dependent(self.table, job.org_id, parent_id, job_id)}
            for parent_id in job.depends_on or ()
        ]
        if not job.idempotency_key and not links:
            self._call("put_item", **ex.put_new_job(self.table, item))
            self.payloads.commit(payload_ref)
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
            self.payloads.commit(payload_ref)
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
                self.payloads.commit(item["payload_ref"])
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
                **table_keys.query_newest_first(
                    self.table, index, partition, page_size, start_key, oldest_first
                ),
            )
            for raw in response.get("Items", []):
                yield ex.job_id_from_pk(raw["pk"]["S"]), raw
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return

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
