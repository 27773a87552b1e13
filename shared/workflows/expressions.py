"""Keys, conditions and updates of workflows and job dependencies (contract §2.8, §3.6, §3.8).

  workflow   pk WORKFLOW#{org}#{workflow_id}   sk WORKFLOW

Index entries of a workflow:
  by_org   org_pk WORKFLOWS#{org}, created_sk   (listing; shared/operations/usage.py counts this partition)
  timers   timer_pk WORKFLOWS, timer_sk {next_check_ms:015d}#{org}#{id}   while the workflow is
           open: the sweep's safety net re-checks its gates there (a stream batch whose release
           failed). One partition for the deployment; job timers live in {org}#{queue}.

Dependency edges live on the job items themselves, both directions known at create:
  child   depends_on [parent ids], dependency_mode all|any, dependencies_met false while gated
  parent  dependents [child ids]
A gated job has no ready-index key, so no claim can see it; releasing it adds the key.
Every gate transition is conditional on the job's version: a release, a cascade cancel, a
priority change or a user cancel that raced it bumps the version and the loser re-reads.
"""

from __future__ import annotations

from typing import Any

from shared.jobs.expressions import READY, ready_pk, ready_sk, timer_pk
from shared.jobs.states import JobStatus, from_states
from shared.plumbing import dynamo_codec, schema
from shared.plumbing.table_keys import created_sk, query_timer_partition, timer_sk
from shared.plumbing.update_builder import Update, history_event

S = JobStatus
TIMERS = schema.TIMER_INDEX
WORKFLOW_SK = "WORKFLOW"
OPEN_WORKFLOWS_PARTITION = "WORKFLOWS"  # timers-index partition of every workflow not yet finished
RETRYABLE = from_states("workflow_retry")


# --- keys ----------------------------------------------------------------------------------


def workflow_pk(org_id: str, workflow_id: str) -> str:
    return f"WORKFLOW#{org_id}#{workflow_id}"


def workflow_key(org_id: str, workflow_id: str) -> dict[str, Any]:
    return {"pk": {"S": workflow_pk(org_id, workflow_id)}, "sk": {"S": WORKFLOW_SK}}


def workflow_id_from_pk(pk: str) -> str:
    return pk.rsplit("#", 1)[1]


def workflows_by_org_pk(org_id: str) -> str:
    return f"WORKFLOWS#{org_id}"


def index_keys(org_id: str, workflow_id: str, created_ms: int) -> dict[str, str]:
    return {"org_pk": workflows_by_org_pk(org_id), "created_sk": created_sk(created_ms, workflow_id)}


def open_entry(org_id: str, workflow_id: str, check_ms: int) -> dict[str, str]:
    """The timers-index key of an open workflow, due when the safety net should look at it."""
    return {
        TIMERS.partition_key.name: OPEN_WORKFLOWS_PARTITION,
        TIMERS.sort_key.name: timer_sk(check_ms, f"{org_id}#{workflow_id}"),
    }


def ids_from_open_entry(entry_sk: str) -> tuple[str, str]:
    """(org_id, workflow_id) of an open_entry sort key."""
    _, org_id, workflow_id = entry_sk.split("#", 2)
    return org_id, workflow_id


# --- reads ---------------------------------------------------------------------------------


def get_workflow(table: str, org_id: str, workflow_id: str) -> dict[str, Any]:
    return {"TableName": table, "Key": workflow_key(org_id, workflow_id), "ConsistentRead": True}


def query_due_checks(table: str, now_ms: int, limit: int) -> dict[str, Any]:
    return query_timer_partition(table, OPEN_WORKFLOWS_PARTITION, due_by_ms=now_ms, limit=limit)


# --- creating a workflow -------------------------------------------------------------------


def put_new_workflow(table: str, item: dict[str, Any]) -> dict[str, Any]:
    # A UUID collision is astronomically unlikely, but an overwrite would hand one workflow's jobs
    # to another.
    return {
        "TableName": table,
        "Item": dynamo_codec.encode_item(item),
        "ConditionExpression": "attribute_not_exists(pk)",
    }


def drop_deferred_job(table: str, org_id: str, workflow_id: str) -> dict[str, Any]:
    """Part of the transaction that writes a workflow's deferred job (a 100-job workflow does not
    fit one 100-action transaction with its workflow item). The API and the sweep may both try:
    the condition lets exactly one transaction through; the other is cancelled whole."""
    return {
        "TableName": table,
        "Key": workflow_key(org_id, workflow_id),
        "UpdateExpression": "REMOVE deferred_job",
        "ConditionExpression": "attribute_exists(deferred_job)",
    }


# --- gates ---------------------------------------------------------------------------------


def reset_for_retry(
    table: str,
    key: dict[str, Any],
    *,
    gated: bool,
    org_id: str,
    queue: str,
    job_id: str,
    priority: int,
    created_ms: int,
    shard: int,
    expires_ms: int | None,
    now_ms: int,
) -> dict[str, Any]:
    """Workflow retry: failed/deadletter/cancelled → pending with retry_count 0 and its history of
    the last run cleared. A job with dependencies comes back gated (its parents may have been
    reset too); the others come back claimable. Two retries at once: the second finds it pending."""
    u = Update()
    u.set("status", S.PENDING).set("retry_count", 0).set("updated_at", now_ms)
    if gated:
        u.set("dependencies_met", False)
        u.remove(READY.partition_key.name, READY.sort_key.name)
    else:
        u.set(READY.partition_key.name, ready_pk(org_id, queue, shard))
        u.set(READY.sort_key.name, ready_sk(priority, created_ms, job_id))
    if expires_ms is not None:
        u.set(TIMERS.partition_key.name, timer_pk(org_id, queue))
        u.set(TIMERS.sort_key.name, timer_sk(expires_ms, job_id))
    else:
        u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    u.remove(
        "last_error",
        "completed_at",
        "started_at",
        "scheduled_at",
        "result",
        "result_ref",
        "lease_id",
        "lease_expires_at",
        "assigned_worker_id",
        "deadline_at",
        schema.DEAD_LETTER_INDEX.partition_key.name,
    ).bump_version()
    u.append_event(history_event(now_ms, "retried", retry_count=0, reason="workflow retry"))
    u.status_in(RETRYABLE)
    return u.build(table, key)


# --- workflow state ------------------------------------------------------------------------


def workflow_still_running(table: str, org_id: str, workflow_id: str) -> dict[str, Any]:
    """A ConditionCheck for the transaction of each job a retry resets: a cancel that lands while a
    retry walks its jobs would otherwise see them still failed (nothing to cancel), and the retry
    would then make them claimable inside a cancelled workflow."""
    return {
        "TableName": table,
        "Key": workflow_key(org_id, workflow_id),
        "ConditionExpression": "#status = :running",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":running": {"S": "running"}},
    }


def record_state(
    table: str,
    org_id: str,
    workflow_id: str,
    *,
    status: str,
    progress: dict[str, int],
    started_at: int | None,
    completed_at: int | None,
    open_check_ms: int | None,
    seen_version: int,
    now_ms: int,
) -> dict[str, Any]:
    """The status and counts recomputed from the jobs. Stream batches of one workflow may be
    processed side by side: each recomputes from consistent reads, and the version admits one
    write per state; a loser re-reads and recomputes. A finished workflow leaves the open index;
    one that runs again (a job retried from the DLQ) re-enters it at open_check_ms."""
    u = Update()
    u.set("status", status).set("progress", progress).set("updated_at", now_ms)
    u.set("started_at", started_at).set("completed_at", completed_at)
    if completed_at is not None:
        u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    elif open_check_ms is not None:
        for name, value in open_entry(org_id, workflow_id, open_check_ms).items():
            u.set(name, value)
    u.bump_version()
    u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")
    return u.build(table, workflow_key(org_id, workflow_id))


def cancel_workflow(table: str, org_id: str, workflow_id: str, *, now_ms: int) -> dict[str, Any]:
    # A completed workflow stays completed; racing a recompute, whichever lands first wins and
    # the recompute keeps a cancelled workflow cancelled.
    u = Update()
    u.set("status", "cancelled").set("completed_at", now_ms).set("updated_at", now_ms)
    u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name).bump_version()
    u.status_in({"pending", "running", "failed"})
    args = u.build(table, workflow_key(org_id, workflow_id))
    args["ReturnValues"] = "ALL_NEW"
    args["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return args


def retry_workflow(
    table: str, org_id: str, workflow_id: str, *, seen_version: int, check_ms: int, now_ms: int
) -> dict[str, Any]:
    # Two retries at once: the version admits one; the other finds it running (400).
    u = Update()
    u.set("status", "running").set("updated_at", now_ms).remove("completed_at")
    for name, value in open_entry(org_id, workflow_id, check_ms).items():
        u.set(name, value)
    u.bump_version()
    u.status_in({"failed"})
    u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")
    args = u.build(table, workflow_key(org_id, workflow_id))
    args["ReturnValues"] = "ALL_NEW"
    return args


def next_check(
    table: str, org_id: str, workflow_id: str, *, seen_entry_sk: str, check_ms: int
) -> dict[str, Any]:
    """Move the safety net's next look. Only the entry the sweep saw: a workflow that finished
    (entry removed) or was retried (new entry) meanwhile keeps what that write set."""
    u = Update()
    u.set(TIMERS.sort_key.name, open_entry(org_id, workflow_id, check_ms)[TIMERS.sort_key.name])
    u.condition(f"{u.n(TIMERS.sort_key.name)} = {u.v('seen_entry', seen_entry_sk)}")
    return u.build(table, workflow_key(org_id, workflow_id))
