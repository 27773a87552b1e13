"""Every job transition is a conditional write that asserts the statuses it may start from."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs import expressions as ex
from shared.jobs.states import TRANSITIONS, JobStatus
from shared.workflows import expressions as wf

KEY = ex.job_key("org", "job")
COMMON = {"now_ms": 1_000}

BUILDERS: dict[str, Any] = {
    "claim": lambda: ex.claim(
        "t",
        KEY,
        org_id="o",
        queue="q",
        job_id="j",
        worker_id="w",
        lease_id="l",
        lease_expires_ms=2_000,
        **COMMON,
    ),
    "complete": lambda: ex.complete(
        "t", KEY, worker_id="w", lease_id="l", result="1", result_ref=None, **COMMON
    ),
    "heartbeat": lambda: ex.heartbeat(
        "t", KEY, job_id="j", worker_id="w", lease_id="l", lease_expires_ms=9, **COMMON
    ),
    "fail_retry": lambda: ex.fail_with_retry(
        "t",
        KEY,
        org_id="o",
        queue="q",
        job_id="j",
        worker_id="w",
        lease_id="l",
        retry_count=0,
        due_ms=5,
        error="e",
        **COMMON,
    ),
    "fail_deadletter": lambda: ex.fail_to_dead_letter(
        "t", KEY, org_id="o", worker_id="w", lease_id="l", retry_count=3, error="e", **COMMON
    ),
    "promote": lambda: ex.promote(
        "t",
        KEY,
        org_id="o",
        queue="q",
        job_id="j",
        priority=0,
        created_ms=1,
        shard=0,
        seen_timer_sk="x",
        **COMMON,
    ),
    "cancel": lambda: ex.cancel("t", KEY, **COMMON),
    "expire": lambda: ex.cancel("t", KEY, expired=True, **COMMON),
    "retry": lambda: ex.make_ready_again(
        "t",
        KEY,
        transition="retry",
        org_id="o",
        queue="q",
        job_id="j",
        priority=0,
        created_ms=1,
        shard=0,
        retry_count=1,
        **COMMON,
    ),
    "dlq_retry": lambda: ex.make_ready_again(
        "t",
        KEY,
        transition="dlq_retry",
        org_id="o",
        queue="q",
        job_id="j",
        priority=0,
        created_ms=1,
        shard=0,
        retry_count=0,
        **COMMON,
    ),
    "set_priority": lambda: ex.set_priority(
        "t", KEY, priority=5, new_ready_sk=None, seen_version=3, **COMMON
    ),
    "purge": lambda: ex.delete_dead_letter("t", KEY),
    "gate": lambda: ex.gate("t", KEY, add_parents=["p"], mode="all", seen_version=1, **COMMON),
    "promote_gated": lambda: ex.promote_gated("t", KEY, seen_timer_sk="x", next_timer_sk=None, **COMMON),
    "workflow_retry": lambda: wf.reset_for_retry(
        "t",
        KEY,
        gated=False,
        org_id="o",
        queue="q",
        job_id="j",
        priority=0,
        created_ms=1,
        shard=0,
        expires_ms=None,
        **COMMON,
    ),
}


def test_every_transition_has_a_builder() -> None:
    assert set(BUILDERS) == set(TRANSITIONS)


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_condition_asserts_the_from_states(name: str) -> None:
    args = BUILDERS[name]()
    condition = args["ConditionExpression"]
    names = args["ExpressionAttributeNames"]
    values = {k: v.get("S") for k, v in args.get("ExpressionAttributeValues", {}).items()}
    status_placeholder = next(p for p, attribute in names.items() if attribute == "status")
    assert status_placeholder in condition
    allowed, _ = TRANSITIONS[name]
    asserted = {
        JobStatus(v)
        for k, v in values.items()
        if v in set(JobStatus) and k in condition and (k.startswith(":from_") or k == ":deadletter")
    }
    assert asserted == set(allowed)


def test_ready_sort_key_orders_priority_then_age() -> None:
    keys = [
        ex.ready_sk(100, 5, "a"),
        ex.ready_sk(0, 1, "b"),
        ex.ready_sk(0, 2, "c"),
        ex.ready_sk(-100, 0, "d"),
    ]
    assert sorted(keys) == keys
