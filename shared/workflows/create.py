"""Creating a workflow: everything checked first, then the workflow and all its jobs written in one
transaction (contract §2.8, §3.8; docs/workflows.md "Create: all or nothing").

The workflow's reads, cancel, retry and status upkeep are in shared/workflows/service.py; this module is
only the path of `POST /workflows`, imported on its first call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from shared.identity import plan_limits
from shared.identity.credentials import AuthContext
from shared.jobs import expressions as ex
from shared.jobs.dependencies import find_cycle, topological_order
from shared.jobs.model import payload_text
from shared.jobs.queues import registry as queue_registry
from shared.jobs.queues.config import QueueConfigService
from shared.jobs.states import JobStatus
from shared.jobs.store import JobStore, NewJob
from shared.plumbing import dynamo_codec, table_keys
from shared.plumbing.clock import from_datetime
from shared.plumbing.errors import AccessDenied, QuotaExceeded, ValidationFailed
from shared.plumbing.payload_store import encode_json, encoded_size
from shared.workflows import expressions as ex_wf
from shared.workflows import requests as m
from shared.workflows.progress import CHECK_EVERY_MS, FINISHED, progress_counts


class WorkflowWriter(Protocol):
    """What creating a workflow needs of the workflow service (shared/workflows/service.py), which
    calls create_workflow: an interface, so this module does not import the service back."""

    store: JobStore
    table: str

    @property
    def _db(self) -> Any: ...

    def _write_deferred(self, org_id: str, workflow: dict[str, Any]) -> None: ...

    def _items(self, org_id: str) -> Iterator[dict[str, Any]]: ...


logger = logging.getLogger("spooled.workflows")

S = JobStatus

# DynamoDB refuses a transaction of more than 100 actions or 4 MB. A 100-job workflow is 101
# items: its last job (a leaf) is written right after, from a copy kept in the workflow item.
MAX_TRANSACTION_ACTIONS = 100
INLINE_BUDGET_BYTES = 3 * 1024 * 1024  # inline payloads of one create; the largest go to S3 beyond it
DEFERRED_INLINE_LIMIT = 64 * 1024  # the deferred job's payload rides in the workflow item up to this
MAX_METADATA_BYTES = 64 * 1024


class FeatureDisabled(AccessDenied):
    code, default_message = "FEATURE_DISABLED", "This feature is disabled for the organization"


def _invalid(field: str, message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": field, "message": message, "code": code}])


def validate_graph(jobs: Sequence[m.WorkflowJobSpec]) -> dict[str, list[str]]:
    """key → its dependency keys (duplicates dropped), or a 400 naming the problem."""
    graph: dict[str, list[str]] = {}
    for index, job in enumerate(jobs):
        if job.key in graph:
            raise _invalid(f"jobs[{index}].key", f"Duplicate job key '{job.key}'", "duplicate_key")
        graph[job.key] = list(dict.fromkeys(job.depends_on or []))
    for index, job in enumerate(jobs):
        for parent in graph[job.key]:
            if parent not in graph:
                raise _invalid(
                    f"jobs[{index}].depends_on",
                    f"Job '{job.key}' depends on unknown key '{parent}'",
                    "unknown_dependency",
                )
    cycle = find_cycle(graph)
    if cycle:
        raise _invalid("jobs", "Dependency cycle: " + " -> ".join(cycle), "cycle")
    return graph


def create_workflow(service: WorkflowWriter, ctx: AuthContext, req: m.CreateWorkflow) -> dict[str, Any]:
    graph = validate_graph(req.jobs)
    for job in req.jobs:
        ctx.require_queue(job.queue_name)
    metadata_text = encode_json(req.metadata) if req.metadata is not None else None
    if metadata_text is not None and encoded_size(metadata_text) > MAX_METADATA_BYTES:
        raise _invalid("metadata", "metadata exceeds 64 KiB", "too_large")
    now_ms = service.store.clock.now_ms()
    for index, job in enumerate(req.jobs):
        if job.expires_at is not None and from_datetime(job.expires_at) <= now_ms:
            raise _invalid(f"jobs[{index}].expires_at", "expires_at must be in the future", "in_past")
    texts = {job.key: payload_text(job.payload) for job in req.jobs}
    tags = {job.key: encode_json(job.tags) if job.tags is not None else None for job in req.jobs}
    _check_quota(service, ctx.org_id)

    store = service.store
    workflow_id = str(uuid.uuid4())
    # Creation-ordered ids with their job shard inside, like every job id.
    ids = {job.key: ex.new_job_id(now_ms, store.job_shards) for job in req.jobs}
    children: dict[str, list[str]] = {key: [] for key in graph}
    for key, parents in graph.items():
        for parent in parents:
            children[parent].append(ids[key])
    order = topological_order(graph)
    deferred_key = order[-1] if len(order) + 1 > MAX_TRANSACTION_ACTIONS else None
    offloaded = _keys_to_offload(texts, deferred_key, store.payloads.inline_limit)
    defaults = _defaults(service.table, ctx.org_id, req.jobs)
    items: dict[str, dict[str, Any]] = {}
    refs: list[str | None] = []
    try:
        for job in req.jobs:
            max_retries, timeout = defaults[job.queue_name]
            new_job = NewJob(
                org_id=ctx.org_id,
                queue_name=job.queue_name,
                payload_text=texts[job.key],
                priority=job.priority,
                max_retries=job.max_retries if job.max_retries is not None else max_retries,
                timeout_seconds=job.timeout_seconds or timeout,
                scheduled_at=from_datetime(job.scheduled_at) if job.scheduled_at else None,
                expires_at=from_datetime(job.expires_at) if job.expires_at else None,
                tags_text=tags[job.key],
                job_type=job.payload.get("job_type") if isinstance(job.payload, dict) else None,
                depends_on=[ids[parent] for parent in graph[job.key]],
                dependency_mode=job.dependency_mode,
                dependents=children[job.key],
                workflow_id=workflow_id,
                workflow_key=job.key,
            )
            items[job.key], ref = store.new_item(new_job, ids[job.key], now_ms, job.key in offloaded)
            refs.append(ref)
        workflow = {
            **{k: v["S"] for k, v in ex_wf.workflow_key(ctx.org_id, workflow_id).items()},
            **ex_wf.index_keys(ctx.org_id, workflow_id, now_ms),
            **ex_wf.open_entry(ctx.org_id, workflow_id, now_ms + CHECK_EVERY_MS),
            "id": workflow_id,
            "org_id": ctx.org_id,
            "name": req.name,
            "description": req.description,
            "metadata": metadata_text,
            "status": "pending",
            "jobs": [{"key": job.key, "job_id": ids[job.key]} for job in req.jobs],
            "queues": sorted({job.queue_name for job in req.jobs}),
            "progress": progress_counts([S.PENDING] * len(req.jobs)),
            "created_at": now_ms,
            "updated_at": now_ms,
            "version": 1,
            "deferred_job": encode_json(items[deferred_key]) if deferred_key else None,
        }
        # Its queues are in GET /queues and in the sweep's registry before any of its jobs exists.
        queue_registry.register_all(service.table, ((ctx.org_id, job.queue_name) for job in req.jobs), now_ms)
        service._db.transact_write_items(
            TransactItems=[{"Put": ex_wf.put_new_workflow(service.table, workflow)}]
            + [{"Put": ex.put_new_job(service.table, items[key])} for key in order if key != deferred_key]
        )
    except Exception:
        store.payloads.delete(*refs)
        raise
    store.payloads.commit(*refs)  # the deferred job's too: the workflow item holds its copy
    if deferred_key:
        try:
            service._write_deferred(ctx.org_id, workflow)
        except Exception:  # the workflow is committed: the sweep writes the job from its copy
            logger.exception("writing the deferred job of workflow %s failed", workflow_id)
    return {
        "workflow_id": workflow_id,
        "job_ids": [{"key": job.key, "job_id": ids[job.key]} for job in req.jobs],
        "status": "pending",
    }


def _defaults(table: str, org_id: str, jobs: Sequence[m.WorkflowJobSpec]) -> dict[str, tuple[int, int]]:
    """Each queue's (max_retries, timeout) for jobs that omit them, read once per queue."""
    queues = QueueConfigService(table)
    needed = {job.queue_name for job in jobs if job.max_retries is None or job.timeout_seconds is None}
    return {
        queue: queues.job_defaults(org_id, queue) if queue in needed else (0, 0)
        for queue in {job.queue_name for job in jobs}
    }


def _check_quota(service: WorkflowWriter, org_id: str) -> None:
    found = service._db.get_item(TableName=service.table, Key=table_keys.org_key(org_id), ConsistentRead=True)
    limit = plan_limits.for_organization(dynamo_codec.decode_item(found.get("Item", {}))).max_workflows
    if limit is None:
        return
    if limit == 0:
        raise FeatureDisabled("Workflows are disabled for this organization (max_workflows is 0)")
    active = sum(1 for item in service._items(org_id) if item["status"] not in FINISHED)
    if active >= limit:
        raise QuotaExceeded(
            f"Workflow limit reached ({limit} active workflows)",
            error="limit_exceeded",
            resource="workflows",
            current=active,
            limit=limit,
            plan="self-hosted",
        )


def _keys_to_offload(texts: dict[str, str], deferred_key: str | None, inline_limit: int) -> set[str]:
    """Keys whose payload goes to S3 so that the transaction stays under its 4 MB: the largest first.
    Payloads above the store's inline limit go to S3 anyway and are not counted."""
    offload = (
        {deferred_key}
        if deferred_key and encoded_size(texts[deferred_key]) > DEFERRED_INLINE_LIMIT
        else set()
    )
    sizes = sorted(
        (
            (size, key)
            for key, text in texts.items()
            if key not in offload and (size := encoded_size(text)) <= inline_limit
        ),
        reverse=True,
    )
    total = sum(size for size, _ in sizes)
    for size, key in sizes:
        if total <= INLINE_BUDGET_BYTES:
            break
        offload.add(key)
        total -= size
    return offload
