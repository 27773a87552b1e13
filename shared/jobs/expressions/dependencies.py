"""Conditions and updates of job dependencies: linking parents, gating, release and cascade.

A gated job is pending but kept out of the ready index; every transition here asserts that it is
still gated at the version read, so a release and a cancel racing for one child cannot both win.
"""

from __future__ import annotations

from typing import Any

from shared.jobs.expressions.keys import job_key, ready_pk, ready_sk
from shared.jobs.expressions.lifecycle import READY, promote
from shared.jobs.states import JobStatus, from_states
from shared.plumbing import schema
from shared.plumbing.update_builder import Update, history_event

S = JobStatus
TIMERS = schema.TIMER_INDEX
WAITING = from_states("gate")


# What a gate decision needs of a job; a consistent read of the whole item would pay for its payload.
GATE_PROJECTION = (
    "id, org_id, queue_name, #status, priority, created_at, version, depends_on, dependents, "
    "dependency_mode, dependencies_met, expires_at, scheduled_at, timer_sk, ready_pk, workflow_id"
)


STATUS_PROJECTION = "id, queue_name, #status, dependents, depends_on, dependency_mode, dependencies_met"


def get_job_for_gate(table: str, org_id: str, job_id: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": job_key(org_id, job_id),
        "ConsistentRead": True,
        "ProjectionExpression": GATE_PROJECTION,
        "ExpressionAttributeNames": {"#status": "status"},
    }


def batch_get_jobs(table: str, org_id: str, job_ids: list[str], projection: str | None) -> dict[str, Any]:
    """RequestItems for up to 100 jobs, consistent: a release decided on a stale parent status
    would release a child whose parent has not finished yet."""
    request: dict[str, Any] = {
        "Keys": [job_key(org_id, job_id) for job_id in job_ids],
        "ConsistentRead": True,
    }
    if projection:
        request["ProjectionExpression"] = projection
        if "#status" in projection:  # DynamoDB refuses a name the expression does not use
            request["ExpressionAttributeNames"] = {"#status": "status"}
    return {table: request}


def link_dependent(table: str, org_id: str, parent_id: str, child_id: str) -> dict[str, Any]:
    """Record a new child on its parent, so the parent's finish reaches it. The parent must exist
    (it may have been purged since it was read); a repeated link lists the child once."""
    u = Update()
    dependents = u.n("dependents")
    existing = f"if_not_exists({dependents}, {u.v('empty', [])})"
    u.sets.append(f"{dependents} = list_append({existing}, {u.v('child', [child_id])})")
    u.condition(f"attribute_exists({u.n('pk')})")
    u.condition(f"NOT contains({dependents}, {u.v('child_id', child_id)})")
    return u.build(table, job_key(org_id, parent_id))


def unlink_dependent(table: str, org_id: str, parent_id: str, child_id: str, index: int) -> dict[str, Any]:
    """Take back a link made for an edge that was then skipped (it would have closed a cycle). A
    list element goes by position: the condition checks the position still holds this child, so a
    concurrent link or unlink that shifted the list makes this fail instead of dropping another."""
    u = Update()
    element = f"{u.n('dependents')}[{index}]"
    u.removes.append(element)  # a path, not an attribute name: Update.remove would quote it whole
    u.condition(f"{element} = {u.v('child_id', child_id)}")
    return u.build(table, job_key(org_id, parent_id))


def gate(
    table: str,
    key: dict[str, Any],
    *,
    add_parents: list[str],
    mode: str,
    seen_version: int,
    now_ms: int,
) -> dict[str, Any]:
    """A waiting job gets more parents (POST /jobs/{id}/dependencies) and leaves the ready index.
    A claim between our read and this write bumps the version: the job is running and is left so."""
    u = Update()
    parents = u.n("depends_on")
    existing = f"if_not_exists({parents}, {u.v('empty', [])})"
    u.sets.append(f"{parents} = list_append({existing}, {u.v('parents', add_parents)})")
    u.set("dependency_mode", mode).set("dependencies_met", False).set("updated_at", now_ms)
    u.remove(READY.partition_key.name, READY.sort_key.name).bump_version()
    u.append_event(history_event(now_ms, "dependencies_added", dependencies=add_parents, mode=mode))
    u.status_in(WAITING)
    u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")
    args = u.build(table, key)
    args["ReturnValues"] = "ALL_NEW"
    return args


def _still_gated(u: Update, status: str, seen_version: int) -> None:
    # Two parents finishing at once both decide to release; a cancel or priority change races the
    # release: the version read with the decision admits exactly one of them.
    u.status_in({status})
    u.condition(f"{u.n('dependencies_met')} = {u.v('gated', False)}")
    u.condition(f"{u.n('version')} = {u.v('seen_version', seen_version)}")


def release(
    table: str,
    key: dict[str, Any],
    *,
    status: str,
    org_id: str,
    queue: str,
    job_id: str,
    priority: int,
    created_ms: int,
    shard: int,
    seen_version: int,
    now_ms: int,
) -> dict[str, Any]:
    """Dependencies met. A pending job becomes claimable with the ready key it would have had at
    create (same shard, priority, age); a scheduled one keeps waiting for its timer, which now
    promotes it (promote_released)."""
    u = Update()
    u.set("dependencies_met", True).set("updated_at", now_ms)
    if status == S.PENDING:
        u.set(READY.partition_key.name, ready_pk(org_id, queue, shard))
        u.set(READY.sort_key.name, ready_sk(priority, created_ms, job_id))
    u.bump_version()
    u.append_event(history_event(now_ms, "dependencies_met"))
    _still_gated(u, status, seen_version)
    return u.build(table, key)


def cancel_gated(
    table: str, key: dict[str, Any], *, status: str, reason: str, seen_version: int, now_ms: int
) -> dict[str, Any]:
    """A gated job whose dependencies can no longer be met is cancelled; that is itself a status
    change on the stream, so its own dependents are cancelled next (level by level)."""
    u = Update()
    u.set("status", S.CANCELLED).set("completed_at", now_ms).set("updated_at", now_ms)
    u.set("last_error", reason)
    u.remove(
        READY.partition_key.name, READY.sort_key.name, TIMERS.partition_key.name, TIMERS.sort_key.name
    ).bump_version()
    u.append_event(history_event(now_ms, "cancelled", reason=reason))
    _still_gated(u, status, seen_version)
    return u.build(table, key)


def promote_gated(
    table: str,
    key: dict[str, Any],
    *,
    seen_timer_sk: str,
    next_timer_sk: str | None,
    now_ms: int,
) -> dict[str, Any]:
    """A gated job's scheduled_at arrives: scheduled → pending, still without a ready key. A release
    that landed after our read made dependencies_met true: this fails and the timer is re-read."""
    u = Update()
    u.set("status", S.PENDING).set("updated_at", now_ms)
    if next_timer_sk is None:
        u.remove(TIMERS.partition_key.name, TIMERS.sort_key.name)
    else:
        u.set(TIMERS.sort_key.name, next_timer_sk)
    u.bump_version()
    u.status_in(from_states("promote_gated"))
    u.condition(f"{u.n(TIMERS.sort_key.name)} = {u.v('seen_timer', seen_timer_sk)}")
    u.condition(f"{u.n('dependencies_met')} = {u.v('gated', False)}")
    return u.build(table, key)


def promote_released(table: str, key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The timer's promote, refused while the job is gated: dependencies added after the timer
    read the job must not be skipped by a promotion into the ready index."""
    args = promote(table, key, **kwargs)
    args["ConditionExpression"] += (
        " AND (attribute_not_exists(#dependencies_met) OR #dependencies_met = :met)"
    )
    args["ExpressionAttributeNames"]["#dependencies_met"] = "dependencies_met"
    args["ExpressionAttributeValues"][":met"] = {"BOOL": True}
    return args
