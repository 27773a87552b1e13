"""Workflows: DAGs of jobs created in one request, released as their parents finish (contract §2.8,
§3.8; docs/workflows.md).

A workflow is one item (name, metadata, status, counts, the key → job id list) and its jobs are
ordinary jobs whose items carry the edges (shared/jobs/dependencies.py). Create (validate everything,
then one transaction) lives in shared/workflows/create.py; this module reads, cancels and retries
workflows, and keeps their status: recomputed from the jobs by the dispatcher's stream handler
whenever one of them changes status, and by the sweep as a safety net.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from enum import Enum
from typing import Any

from shared.identity.credentials import AuthContext
from shared.jobs import expressions as ex
from shared.jobs.dependencies import Decision, Dependencies, decide, topological_order
from shared.jobs.model import JobRecord
from shared.jobs.states import JobStatus
from shared.jobs.store import JobStore
from shared.plumbing import aws_clients, dynamo_codec, schema, table_service
from shared.plumbing.aws_clients import is_conditional_failure
from shared.plumbing.clock import to_rfc3339
from shared.plumbing.errors import BadRequest, Conflict, NotFound
from shared.workflows import expressions as ex_wf
from shared.workflows import requests as m
from shared.workflows.progress import CHECK_EVERY_MS, FINISHED, STATUSES, progress_counts, workflow_status

S = JobStatus
logger = logging.getLogger("spooled.workflows")

MAX_LISTED_PER_REQUEST = 5000


class _Reset(Enum):
    DONE = "done"
    JOB_MOVED = "job moved"  # no longer failed/deadletter/cancelled: nothing to retry
    WORKFLOW_LEFT_RUNNING = "workflow left running"  # cancelled while the retry walked its jobs


# --- pure: status and documents -------------------------------------------------------------


def _workflow_id(raw: dict[str, Any]) -> str:
    return ex_wf.workflow_id_from_pk(raw["pk"]["S"])


def summary_document(item: dict[str, Any]) -> dict[str, Any]:
    """WorkflowResponse (list, cancel, retry); its counts are as of the last stream update."""
    progress = item.get("progress") or progress_counts([S.PENDING] * len(item["jobs"]))
    total = progress["total"]
    return {
        "id": item["id"],
        "organization_id": item["org_id"],
        "name": item["name"],
        "description": item.get("description"),
        "metadata": json.loads(item["metadata"]) if "metadata" in item else None,
        "status": item["status"],
        "total_jobs": total,
        "completed_jobs": progress["completed"],
        "failed_jobs": progress["failed"],
        "progress_percent": round(progress["completed"] * 100.0 / total, 2) if total else 0.0,
        "progress": progress,
        "created_at": to_rfc3339(item["created_at"]),
        "started_at": to_rfc3339(item.get("started_at")),
        "completed_at": to_rfc3339(item.get("completed_at")),
        "updated_at": to_rfc3339(item.get("updated_at")),
    }


def job_row(job: JobRecord) -> dict[str, Any]:
    """A WorkflowJobRow (contract §2.8) plus the job's key, edges and gate."""
    failed = job.status in (S.FAILED, S.DEADLETTER)
    return {
        "id": job.id,
        "key": job.workflow_key,
        "organization_id": job.org_id,
        "queue": job.queue_name,
        "queue_name": job.queue_name,
        "job_type": "job",
        "payload": job.payload,
        "status": job.status,
        "priority": job.priority,
        "attempt": job.retry_count,
        "retry_count": job.retry_count,
        "max_retries": job.max_retries,
        "backoff_type": "exponential",
        "timeout_ms": job.timeout_seconds * 1000,
        "created_at": to_rfc3339(job.created_at),
        "scheduled_at": to_rfc3339(job.scheduled_at),
        "started_at": to_rfc3339(job.started_at),
        "completed_at": to_rfc3339(job.completed_at),
        "failed_at": to_rfc3339(job.completed_at) if failed else None,
        "next_retry_at": None,
        "result": job.result,
        "error": {"type": "JobError", "message": job.last_error, "stack": None} if job.last_error else None,
        "metadata": job.tags,
        "workflow_id": job.workflow_id,
        "parent_job_id": job.parent_job_id,
        "depends_on": job.depends_on,
        "dependency_mode": job.dependency_mode,
        "dependencies_met": job.dependencies_met,
    }


# --- the service ---------------------------------------------------------------------------


class WorkflowService:
    def __init__(self, store: JobStore | None = None) -> None:
        self.store = store or JobStore()
        self.table = self.store.table
        self.dependencies = Dependencies(self.store)

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")

    def _now(self) -> int:
        return self.store.clock.now_ms()

    # --- create (shared/workflows/create.py) ------------------------------------------------

    def create(self, ctx: AuthContext, req: m.CreateWorkflow) -> dict[str, Any]:
        from shared.workflows.create import create_workflow

        return create_workflow(self, ctx, req)

    def _write_deferred(self, org_id: str, workflow: dict[str, Any]) -> None:
        job = json.loads(workflow["deferred_job"])
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Put": ex.put_new_job(self.table, job)},
                    {"Update": ex_wf.drop_deferred_job(self.table, org_id, workflow["id"])},
                ]
            )
        except Exception as error:
            if getattr(error, "response", {}).get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            # Written by someone else already (the API and the sweep may both try): nothing to do.

    # --- reads ---------------------------------------------------------------------------

    def _item(self, org_id: str, workflow_id: str) -> dict[str, Any] | None:
        if not 0 < len(workflow_id.encode("utf-8")) <= 255:
            return None
        found = self._db.get_item(**ex_wf.get_workflow(self.table, org_id, workflow_id))
        if "Item" not in found:
            return None
        item = dynamo_codec.decode_item(found["Item"])
        if item.get("deferred_job"):
            self._write_deferred(org_id, item)
            item.pop("deferred_job")
        return item

    def _visible(self, ctx: AuthContext, workflow_id: str) -> dict[str, Any]:
        item = self._item(ctx.org_id, workflow_id)
        if item is None or not all(ctx.allows_queue(queue) for queue in item.get("queues", [])):
            raise NotFound()
        return item

    def _items(self, org_id: str) -> Iterator[dict[str, Any]]:
        """The organization's workflows, newest first, page by page."""
        ids = (
            wf_id
            for wf_id, _ in self.store.iter_index_ids(
                schema.BY_ORG_INDEX, ex_wf.workflows_by_org_pk(org_id), id_of=_workflow_id
            )
        )
        page: list[dict[str, Any]] = []
        for examined, workflow_id in enumerate(ids, start=1):
            page.append(ex_wf.workflow_key(org_id, workflow_id))
            if len(page) == 100 or examined >= MAX_LISTED_PER_REQUEST:
                yield from table_service.get_items(self.table, page)
                page = []
            if examined >= MAX_LISTED_PER_REQUEST:
                return
        yield from table_service.get_items(self.table, page)

    def list(self, ctx: AuthContext, *, status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        wanted = status if status in STATUSES else None  # an invalid filter is ignored (contract §2.8)
        rows: list[dict[str, Any]] = []
        for item in self._items(ctx.org_id):
            if wanted and item["status"] != wanted:
                continue
            if not all(ctx.allows_queue(queue) for queue in item.get("queues", [])):
                continue
            rows.append(item)
            if len(rows) >= offset + limit:
                break
        return [summary_document(item) for item in rows[offset : offset + limit]]

    def _job_ids(self, item: dict[str, Any]) -> list[str]:
        return [entry["job_id"] for entry in item["jobs"]]

    def get(self, ctx: AuthContext, workflow_id: str) -> dict[str, Any]:
        item = self._visible(ctx, workflow_id)
        jobs = self.store.get_many(ctx.org_id, self._job_ids(item), summary=False)
        statuses = {job.id: job.status for job in jobs}
        document = summary_document(item)
        # The detail reads the jobs themselves, so its counts are current, not a stream behind.
        progress = progress_counts([statuses.get(job_id) for job_id in self._job_ids(item)])
        total = progress["total"]
        document.update(
            progress=progress,
            total_jobs=total,
            completed_jobs=progress["completed"],
            failed_jobs=progress["failed"],
            progress_percent=round(progress["completed"] * 100.0 / total, 2) if total else 0.0,
            jobs=[job_row(job) for job in jobs],
            dependencies=[
                {
                    "parent_job_id": parent,
                    "child_job_id": job.id,
                    "dependency_type": job.dependency_mode or "all",
                }
                for job in jobs
                for parent in job.depends_on
            ],
        )
        return document

    # --- cancel and retry ----------------------------------------------------------------

    def cancel(self, ctx: AuthContext, workflow_id: str) -> dict[str, Any]:
        item = self._visible(ctx, workflow_id)
        if item["status"] == "completed":
            raise Conflict("A completed workflow cannot be cancelled")
        if item["status"] != "cancelled":
            try:
                self._db.update_item(
                    **ex_wf.cancel_workflow(self.table, ctx.org_id, workflow_id, now_ms=self._now())
                )
            except Exception as error:
                if not is_conditional_failure(error):
                    raise
                if (self._item(ctx.org_id, workflow_id) or {}).get("status") != "cancelled":
                    raise Conflict("A completed workflow cannot be cancelled") from error
            # The workflow first: from now on a recompute keeps it cancelled. Running jobs finish.
            for job_id in self._job_ids(item):
                self.store.conditional_update(
                    ex.cancel(
                        self.table,
                        ex.job_key(ctx.org_id, job_id),
                        now_ms=self._now(),
                        reason="Workflow cancelled",
                    )
                )
        self.refresh(ctx.org_id, workflow_id)
        return summary_document(self._visible(ctx, workflow_id))

    def retry(self, ctx: AuthContext, workflow_id: str) -> dict[str, Any]:
        item = self._visible(ctx, workflow_id)
        if item["status"] != "failed":
            raise BadRequest(f"Only failed workflows can be retried; this one is {item['status']}")
        now_ms = self._now()
        try:
            self._db.update_item(
                **ex_wf.retry_workflow(
                    self.table,
                    ctx.org_id,
                    workflow_id,
                    seen_version=item.get("version", 0),
                    check_ms=now_ms + CHECK_EVERY_MS,
                    now_ms=now_ms,
                )
            )
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            raise BadRequest(
                "The workflow changed while it was being retried; it is no longer failed"
            ) from error
        jobs = self.dependencies.read_jobs(ctx.org_id, self._job_ids(item), ex.GATE_PROJECTION)
        order = topological_order({job_id: job.get("depends_on") or [] for job_id, job in jobs.items()})
        reset: list[str] = []
        for job_id in order:  # parents first: a child is gated again before its parent can finish
            job = jobs[job_id]
            if job["status"] not in ex_wf.RETRYABLE:
                continue
            args = ex_wf.reset_for_retry(
                self.table,
                ex.job_key(ctx.org_id, job_id),
                gated=bool(job.get("depends_on")),
                org_id=ctx.org_id,
                queue=job["queue_name"],
                job_id=job_id,
                priority=job["priority"],
                created_ms=job["created_at"],
                shard=ex.shard_of(job_id, self.store.ready_shards_of(ctx.org_id, job["queue_name"])),
                expires_ms=job.get("expires_at"),
                now_ms=self._now(),
            )
            outcome = self._reset_while_running(ctx.org_id, workflow_id, args)
            if outcome is _Reset.WORKFLOW_LEFT_RUNNING:
                break  # cancelled meanwhile: its jobs stay as the cancel left them
            if outcome is _Reset.DONE:
                reset.append(job_id)
        for job_id in reset:  # gates recomputed: a parent that stayed completed releases at once
            self.dependencies.settle(ctx.org_id, job_id)
        self.refresh(ctx.org_id, workflow_id)
        return summary_document(self._visible(ctx, workflow_id))

    def _reset_while_running(self, org_id: str, workflow_id: str, reset_args: dict[str, Any]) -> _Reset:
        """One job's reset, in a transaction with a check that the workflow is still running."""
        update = {k: v for k, v in reset_args.items() if not k.startswith("ReturnValues")}
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"ConditionCheck": ex_wf.workflow_still_running(self.table, org_id, workflow_id)},
                    {"Update": update},
                ]
            )
            return _Reset.DONE
        except Exception as error:
            reasons = [r.get("Code") for r in getattr(error, "response", {}).get("CancellationReasons") or []]
            if not reasons:
                raise
            if reasons[0] == "ConditionalCheckFailed":
                return _Reset.WORKFLOW_LEFT_RUNNING
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return _Reset.JOB_MOVED
            raise

    # --- status from the jobs (stream) and the safety net (sweep) -------------------------

    def refresh(self, org_id: str, workflow_id: str, attempts: int = 4) -> None:
        """Recompute status and counts from consistent reads of the jobs; write them if changed."""
        for _ in range(attempts):
            item = self._item(org_id, workflow_id)
            if item is None:
                return
            found = self.dependencies.read_jobs(org_id, self._job_ids(item), "id, #status")
            statuses = [found.get(job_id, {}).get("status") for job_id in self._job_ids(item)]
            status = workflow_status(statuses, item["status"])
            progress = progress_counts(statuses)
            now_ms = self._now()
            started_at = item.get("started_at")
            if started_at is None and any(s not in (S.PENDING, S.SCHEDULED) for s in statuses):
                started_at = now_ms
            completed_at = (item.get("completed_at") or now_ms) if status in FINISHED else None
            if (status, progress, started_at, completed_at) == (
                item["status"],
                item.get("progress"),
                item.get("started_at"),
                item.get("completed_at"),
            ):
                return
            reopened = status not in FINISHED and "timer_sk" not in item
            args = ex_wf.record_state(
                self.table,
                org_id,
                workflow_id,
                status=status,
                progress=progress,
                started_at=started_at,
                completed_at=completed_at,
                open_check_ms=now_ms + CHECK_EVERY_MS if reopened else None,
                seen_version=item.get("version", 0),
                now_ms=now_ms,
            )
            if self.store.conditional_update(args):
                return
        logger.warning(
            "workflow %s changed under %d recomputes in a row; the next change retries", workflow_id, attempts
        )

    def settle_gates(self, org_id: str, workflow_id: str) -> int:
        """Release or cancel every gated job of the workflow whose parents call for it; returns how many
        moved. What the stream does job by job, for the workflow at once (the sweep's safety net)."""
        item = self._item(org_id, workflow_id)
        if item is None:
            return 0
        jobs = self.dependencies.read_jobs(org_id, self._job_ids(item))
        moved = 0
        for job_id in topological_order(
            {job_id: job.get("depends_on") or [] for job_id, job in jobs.items()}
        ):
            job = jobs[job_id]
            if job.get("dependencies_met") is not False or job["status"] not in ex.WAITING:
                continue
            parents = job.get("depends_on") or []
            known = all(parent in jobs for parent in parents)
            if (
                known
                and decide(job.get("dependency_mode") or "all", [jobs[p]["status"] for p in parents])
                == Decision.WAIT
            ):
                continue
            if self.dependencies.settle(org_id, job_id) is not None:
                moved += 1
        return moved

    def check_open(self, limit: int = 100) -> int:
        """The sweep: every open workflow due for a look gets its gates settled and its status
        recomputed, then its next look moved on. Returns how many were looked at."""
        now_ms = self._now()
        entries = self._db.query(**ex_wf.query_due_checks(self.table, now_ms, limit)).get("Items", [])
        for raw in entries:
            entry_sk = raw[schema.TIMER_INDEX.sort_key.name]["S"]
            org_id, workflow_id = ex_wf.ids_from_open_entry(entry_sk)
            try:
                self.settle_gates(org_id, workflow_id)
                self.refresh(org_id, workflow_id)
                self.store.conditional_update(
                    ex_wf.next_check(
                        self.table,
                        org_id,
                        workflow_id,
                        seen_entry_sk=entry_sk,
                        check_ms=now_ms + CHECK_EVERY_MS,
                    )
                )
            except Exception:
                logger.exception("checking workflow %s failed; the next sweep tries again", workflow_id)
        return len(entries)
