"""The job operations of the API, one function per endpoint, in terms of the caller and its request.

Handlers parse the HTTP request, call one of these, and map the result; these know nothing of HTTP
beyond the errors of shared/plumbing/errors.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.identity.credentials import AuthContext
from shared.jobs import requests as m
from shared.jobs.dependencies import Dependencies
from shared.jobs.model import (
    JobRecord,
    claimed_job,
    history_documents,
    job_document,
    job_summary,
    payload_text,
)
from shared.jobs.queues import counters as queue_counters
from shared.jobs.queues.config import QueueConfigService
from shared.jobs.states import ALL_STATUSES, JobStatus
from shared.jobs.store import JobStore, NewJob
from shared.plumbing import schema
from shared.plumbing.clock import from_datetime
from shared.plumbing.config import settings
from shared.plumbing.errors import (
    AccessDenied,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from shared.plumbing.payload_store import encode_json, encoded_size

if TYPE_CHECKING:
    from shared.jobs.flow_control import FlowControl

# A filtered list reads jobs page by page; this bounds the work one request may do.
MAX_EXAMINED_PER_LIST = 5000
# Job ids are UUIDs minted here and queue names are at most 100 characters. A longer value from a
# URL or body cannot name anything, and DynamoDB would refuse it as a key (ValidationException,
# i.e. a 500) where the contract wants a 404 or an empty result.
MAX_JOB_ID_BYTES = 255
MAX_QUEUE_NAME_CHARS = 100


def _could_be_job_id(job_id: str) -> bool:
    return len(job_id.encode("utf-8")) <= MAX_JOB_ID_BYTES


@dataclass
class Page:
    rows: list[dict[str, Any]]
    has_more: bool


def _tags_text(tags: Any) -> str | None:
    if tags is None:
        return None
    if not isinstance(tags, dict | list):
        raise ValidationFailed(
            details=[
                {"field": "tags", "message": "tags must be an object or an array", "code": "invalid_tags"}
            ]
        )
    text = encode_json(tags)
    if encoded_size(text) > 64 * 1024:
        raise ValidationFailed(
            details=[{"field": "tags", "message": "tags exceed 64 KiB", "code": "too_large"}]
        )
    return text


class JobService:
    def __init__(self, store: JobStore | None = None) -> None:
        self.store = store or JobStore()
        self.queues = QueueConfigService(self.store.table)

    @cached_property
    def flow(self) -> FlowControl:
        # Imported on the first claim or complete: the API handler's cold start does not pay for it.
        from shared.jobs.flow_control import FlowControl

        return FlowControl(self.store.table, self.store.clock)

    def _queue_defaults(self, org_id: str, queue: str, *given: int | None) -> tuple[int, int]:
        """The queue's configured (max_retries, timeout) for new jobs; read only when one is missing."""
        if all(value is not None for value in given):
            config = settings()
            return config.default_max_retries, config.default_timeout_seconds
        return self.queues.job_defaults(org_id, queue)

    # --- producing -----------------------------------------------------------------------

    def create(self, ctx: AuthContext, req: m.CreateJob) -> tuple[dict[str, Any], bool]:
        ctx.require_queue(req.queue_name)
        now_ms = self.store.clock.now_ms()
        expires_at = from_datetime(req.expires_at) if req.expires_at else None
        if expires_at is not None and expires_at <= now_ms:
            raise ValidationFailed(
                details=[
                    {"field": "expires_at", "message": "expires_at must be in the future", "code": "in_past"}
                ]
            )
        if req.completion_webhook:
            # The service will POST there on completion: the same SSRF rules as org webhooks (§2.4).
            from shared.plumbing.url_safety import require_safe_url

            require_safe_url(req.completion_webhook)
        if req.parent_job_id:
            parent = self._visible_job(ctx, req.parent_job_id, missing=BadRequest("parent_job_id not found"))
            if parent.queue_name != req.queue_name:
                raise BadRequest("The parent job must be in the same queue")
        default_retries, default_timeout = self._queue_defaults(
            ctx.org_id, req.queue_name, req.max_retries, req.timeout_seconds
        )
        job = NewJob(
            org_id=ctx.org_id,
            queue_name=req.queue_name,
            payload_text=payload_text(req.payload),
            priority=req.priority,
            max_retries=req.max_retries if req.max_retries is not None else default_retries,
            timeout_seconds=req.timeout_seconds or default_timeout,
            scheduled_at=from_datetime(req.scheduled_at) if req.scheduled_at else None,
            expires_at=expires_at,
            idempotency_key=req.idempotency_key,
            tags_text=_tags_text(req.tags),
            parent_job_id=req.parent_job_id,
            depends_on=[req.parent_job_id] if req.parent_job_id else None,
            completion_webhook=req.completion_webhook,
            completion_webhook_secret=req.completion_webhook_secret,
            job_type=req.payload.get("job_type") if isinstance(req.payload, dict) else None,
            retry_backoff=req.retry_backoff.model_dump(exclude_none=True) if req.retry_backoff else None,
        )
        job_id, created = self.store.create(job)
        if created and req.parent_job_id:
            # The parent may have finished before the child named it: decide the gate now.
            Dependencies(self.store).settle(ctx.org_id, job_id)
        return {"id": job_id, "created": created}, created

    def bulk_create(self, ctx: AuthContext, req: m.BulkCreate) -> dict[str, Any]:
        ctx.require_queue(req.queue_name)
        default_retries, default_timeout = self._queue_defaults(
            ctx.org_id, req.queue_name, req.default_max_retries, req.default_timeout_seconds
        )
        jobs: list[NewJob] = []
        failed: list[dict[str, Any]] = []
        indexes: list[int] = []
        for index, item in enumerate(req.jobs):
            try:
                text = payload_text(item.payload)
            except PayloadTooLarge as error:
                failed.append({"index": index, "error": error.message})
                continue
            indexes.append(index)
            jobs.append(
                NewJob(
                    org_id=ctx.org_id,
                    queue_name=req.queue_name,
                    payload_text=text,
                    priority=item.priority if item.priority is not None else req.default_priority,
                    max_retries=(
                        req.default_max_retries if req.default_max_retries is not None else default_retries
                    ),
                    timeout_seconds=req.default_timeout_seconds or default_timeout,
                    scheduled_at=from_datetime(item.scheduled_at) if item.scheduled_at else None,
                    idempotency_key=item.idempotency_key,
                    job_type=item.payload.get("job_type") if isinstance(item.payload, dict) else None,
                )
            )
        results = self.store.create_many(jobs)
        succeeded = [
            {"index": index, "job_id": job_id, "created": created}
            for index, (job_id, created) in zip(indexes, results, strict=True)
        ]
        return {
            "succeeded": succeeded,
            "failed": failed,
            "total": len(req.jobs),
            "success_count": len(succeeded),
            "failure_count": len(failed),
        }

    # --- reading -------------------------------------------------------------------------

    def _visible_job(self, ctx: AuthContext, job_id: str, missing: Exception | None = None) -> JobRecord:
        if not _could_be_job_id(job_id):
            raise missing or NotFound()
        try:
            job = self.store.get(ctx.org_id, job_id)
        except NotFound:
            raise (missing or NotFound()) from None
        if not ctx.allows_queue(job.queue_name):
            raise missing or NotFound()
        return job

    def get(self, ctx: AuthContext, job_id: str) -> dict[str, Any]:
        return job_document(self._visible_job(ctx, job_id))

    def _matching(
        self,
        ctx: AuthContext,
        jobs: Iterator[JobRecord],
        statuses: set[str] | None,
        tag: str | None,
        wanted: int,
    ) -> tuple[list[JobRecord], bool]:
        """Walk jobs (newest first), keep those that pass the filters, stop at `wanted` matches or
        after MAX_EXAMINED_PER_LIST jobs."""
        matched: list[JobRecord] = []
        for examined, job in enumerate(jobs, start=1):
            if (
                (not statuses or job.status in statuses)
                and (tag is None or _has_tag(job.tags, tag))
                and ctx.allows_queue(job.queue_name)
            ):
                matched.append(job)
                if len(matched) >= wanted:
                    return matched, True
            if examined >= MAX_EXAMINED_PER_LIST:
                return matched, True
        return matched, len(matched) >= wanted

    def _by_id(self, org_id: str, ids: Iterator[str]) -> Iterator[JobRecord]:
        """Summaries of the jobs of `ids` (from an index, newest first), read 100 at a time."""
        page: list[str] = []
        for job_id in ids:
            page.append(job_id)
            if len(page) == 100:
                yield from self.store.get_many(org_id, page)
                page = []
        if page:
            yield from self.store.get_many(org_id, page)

    def list(
        self,
        ctx: AuthContext,
        *,
        queue: str | None,
        status: str | None,
        tag: str | None,
        limit: int,
        offset: int,
    ) -> Page:
        statuses = {s for s in (status or "").split(",") if s in ALL_STATUSES} or None
        if queue and (not ctx.allows_queue(queue) or len(queue) > MAX_QUEUE_NAME_CHARS):
            return Page([], False)
        # Each job partition is read a page of about its share of what the page needs at a time.
        shard_page = max(5, min(100, 2 * (offset + limit + 1) // self.store.job_shards + 2))
        jobs = self.store.iter_jobs(ctx.org_id, queue or None, page_size=shard_page)
        matched, _ = self._matching(ctx, jobs, statuses, tag, offset + limit + 1)
        rows = matched[offset : offset + limit]
        return Page([job_summary(job) for job in rows], len(matched) > offset + limit)

    def list_dead_letter(self, ctx: AuthContext, *, queue: str | None, limit: int, offset: int) -> Page:
        if queue and not ctx.allows_queue(queue):
            return Page([], False)
        ids = (
            job_id
            for job_id, raw in self.store.iter_index_ids(schema.DEAD_LETTER_INDEX, ctx.org_id)
            if not queue or raw.get("queue_name", {}).get("S") == queue
        )
        jobs = self._by_id(ctx.org_id, ids)
        matched, _ = self._matching(ctx, jobs, {JobStatus.DEADLETTER}, None, offset + limit + 1)
        rows = matched[offset : offset + limit]
        return Page([job_summary(job) for job in rows], len(matched) > offset + limit)

    def stats(self, ctx: AuthContext, queue: str | None) -> dict[str, int]:
        if queue:
            ctx.require_visible(queue)
        counts = queue_counters.read_counts(self.store.table, ctx.org_id, [queue] if queue else None)
        totals = dict.fromkeys(ALL_STATUSES, 0)
        for name, by_status in counts.items():
            if (queue and name != queue) or not ctx.allows_queue(name):
                continue
            for status, n in by_status.items():
                totals[status] += n
        document: dict[str, int] = {str(status): n for status, n in totals.items()}
        document["total"] = sum(totals.values())
        return document

    def batch_status(self, ctx: AuthContext, ids_param: str | None) -> list[dict[str, Any]]:
        ids = [i for i in (ids_param or "").split(",") if i.strip()]
        if len(ids) > 100:
            raise BadRequest("At most 100 ids per request")
        rows = []
        for job in self.store.get_many(ctx.org_id, [i.strip() for i in ids if _could_be_job_id(i.strip())]):
            if ctx.allows_queue(job.queue_name):
                rows.append(
                    {
                        "id": job.id,
                        "status": job.status,
                        "queue_name": job.queue_name,
                        "retry_count": job.retry_count,
                        "created_at": job_summary(job)["created_at"],
                        "completed_at": job_summary(job)["completed_at"],
                    }
                )
        return rows

    def history(self, ctx: AuthContext, job_id: str, *, descending: bool, limit: int, offset: int) -> Page:
        rows = history_documents(self._visible_job(ctx, job_id))
        if descending:
            rows.reverse()
        return Page(rows[offset : offset + limit], len(rows) > offset + limit)

    # --- managing ------------------------------------------------------------------------

    def cancel(self, ctx: AuthContext, job_id: str) -> None:
        self._visible_job(ctx, job_id)
        self.store.cancel(ctx.org_id, job_id)

    def retry(self, ctx: AuthContext, job_id: str) -> dict[str, Any]:
        self._visible_job(ctx, job_id)
        return job_document(self.store.retry(ctx.org_id, job_id))

    def set_priority(self, ctx: AuthContext, job_id: str, req: m.SetPriority) -> dict[str, Any]:
        self._visible_job(ctx, job_id)
        old = self.store.set_priority(ctx.org_id, job_id, req.priority)
        return {"job_id": job_id, "old_priority": old, "new_priority": req.priority}

    # --- the worker protocol -------------------------------------------------------------

    def claim(self, ctx: AuthContext, req: m.Claim) -> dict[str, Any]:
        ctx.require_queue(req.queue_name)
        # Through the per-container cache (shared/jobs/queues/settings.py): a pause applies at once
        # in this container and within its CACHE_SECONDS in every other.
        config = self.store.queue_settings.item(ctx.org_id, req.queue_name)
        if config is not None and config.get("enabled") is False:
            return {"jobs": []}  # contract §3.3: a paused queue hands out nothing, and says so calmly
        # Flow control (docs/flow-control.md): nothing to do, and no I/O, for a queue without limits.
        from shared.jobs.flow_control import FlowLimits

        limit, gate, settle = self.flow.admit(ctx.org_id, req.queue_name, FlowLimits.of(config), req.limit)
        jobs = self.store.claim(
            ctx.org_id, req.queue_name, req.worker_id, limit, req.lease_duration_secs, gate
        )
        settle(len(jobs))
        return {"jobs": [claimed_job(job) for job in jobs]}

    def _leased_job_visible(self, ctx: AuthContext, job_id: str) -> None:
        if not _could_be_job_id(job_id):
            raise NotFound()
        if not ctx.unrestricted:
            self._visible_job(ctx, job_id)

    def complete(self, ctx: AuthContext, job_id: str, req: m.Complete) -> dict[str, Any]:
        self._leased_job_visible(ctx, job_id)
        if req.result is not None:
            payload_text(req.result, "result")
        job = self.store.complete(ctx.org_id, job_id, req.worker_id, req.lease_id, req.result)
        self.flow.after_complete(job.org_id, job.queue_name, job_id, req.lease_id, self.store.queue_settings)
        return {"success": True}

    def fail(self, ctx: AuthContext, job_id: str, req: m.Fail) -> dict[str, Any]:
        self._leased_job_visible(ctx, job_id)
        self.store.fail(ctx.org_id, job_id, req.worker_id, req.lease_id, req.error)
        return {"success": True}

    def heartbeat(self, ctx: AuthContext, job_id: str, req: m.JobHeartbeat) -> dict[str, Any]:
        self._leased_job_visible(ctx, job_id)
        self.store.heartbeat(ctx.org_id, job_id, req.worker_id, req.lease_id, req.lease_duration_secs)
        return {"success": True}

    # --- the dead-letter queue -----------------------------------------------------------

    def _dead_letter_ids(
        self, ctx: AuthContext, queue: str | None, older_than_ms: int | None
    ) -> Iterator[str]:
        for job_id, raw in self.store.iter_index_ids(schema.DEAD_LETTER_INDEX, ctx.org_id, oldest_first=True):
            if queue and raw.get("queue_name", {}).get("S") != queue:
                continue
            created_ms = int(raw[schema.DEAD_LETTER_INDEX.sort_key.name]["N"])  # the index sorts on it
            if older_than_ms is not None and created_ms >= older_than_ms:
                return  # oldest first: nothing later is older
            yield job_id

    def _require_dlq_scope(self, ctx: AuthContext, queue: str | None, job_ids: list[str] | None) -> None:
        if ctx.unrestricted:
            return
        if job_ids or not queue:
            raise AccessDenied("A queue-scoped key must name one of its queues (and no job ids)")
        ctx.require_queue(queue)

    def retry_dead_letter(self, ctx: AuthContext, req: m.DlqRetry) -> dict[str, Any]:
        self._require_dlq_scope(ctx, req.queue_name, req.job_ids)
        if req.job_ids and len(req.job_ids) > req.limit:
            raise BadRequest("More job ids than the limit")
        candidates = req.job_ids or list(_take(self._dead_letter_ids(ctx, req.queue_name, None), req.limit))
        retried: list[str] = []
        skipped: list[str] = []
        for job_id in candidates:
            if not _could_be_job_id(job_id):
                skipped.append(job_id)
                continue
            try:
                self.store.retry(ctx.org_id, job_id, transition="dlq_retry")
                retried.append(job_id)
            except (NotFound, Conflict):  # gone, or no longer dead-lettered: reported, not fatal
                skipped.append(job_id)
        return {
            "retried_count": len(retried),
            "retried_jobs": retried,
            "job_ids": retried,
            "skipped_jobs": skipped,
        }

    def purge_dead_letter(self, ctx: AuthContext, req: m.DlqPurge) -> dict[str, Any]:
        if not req.confirm:
            raise ValidationFailed(
                "confirm must be true to purge the dead-letter queue",
                details=[{"field": "confirm", "message": "must be true", "code": "confirm"}],
            )
        self._require_dlq_scope(ctx, req.queue_name, None)
        older_than_ms = from_datetime(req.older_than) if req.older_than else None
        purged = 0
        for job_id in _take(self._dead_letter_ids(ctx, req.queue_name, older_than_ms), req.limit):
            if self.store.purge_dead_letter(ctx.org_id, job_id):
                purged += 1
        return {"purged_count": purged}


def _take(items: Iterator[str], n: int) -> Iterator[str]:
    for count, item in enumerate(items):
        if count >= n:
            return
        yield item


def _has_tag(tags: Any, tag: str) -> bool:
    if isinstance(tags, dict):
        return tag in tags
    if isinstance(tags, list):
        return tag in tags
    return False
