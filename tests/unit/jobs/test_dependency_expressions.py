"""The gate transitions of shared/workflows/expressions.py assert the state they start from."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs import expressions as ex
from shared.workflows import expressions as workflow_ex

KEY = ex.job_key("org", "job")


def _condition(args: dict[str, Any]) -> str:
    """The condition with placeholders replaced by names and values, for reading."""
    text = args["ConditionExpression"]
    for placeholder, name in args["ExpressionAttributeNames"].items():
        text = text.replace(placeholder, name)
    for placeholder, value in sorted(
        args.get("ExpressionAttributeValues", {}).items(), key=lambda kv: -len(kv[0])
    ):
        text = text.replace(placeholder, str(next(iter(value.values()))))
    return text


RELEASE = dict(org_id="o", queue="q", job_id="j", priority=0, created_ms=1, shard=0, seen_version=7, now_ms=5)


@pytest.mark.parametrize(
    ("args", "must_contain"),
    [
        (
            ex.release("t", KEY, status="pending", **RELEASE),
            ["status IN (pending)", "dependencies_met = False", "version = 7"],
        ),
        (
            ex.release("t", KEY, status="scheduled", **RELEASE),
            ["status IN (scheduled)", "dependencies_met = False"],
        ),
        (
            ex.cancel_gated("t", KEY, status="pending", reason="r", seen_version=3, now_ms=5),
            ["status IN (pending)", "dependencies_met = False", "version = 3"],
        ),
        (
            ex.gate("t", KEY, add_parents=["p"], mode="all", seen_version=2, now_ms=5),
            ["status IN (pending, scheduled)", "version = 2"],
        ),
        (
            ex.promote_gated("t", KEY, seen_timer_sk="x", next_timer_sk=None, now_ms=5),
            ["timer_sk = x", "dependencies_met = False"],
        ),
        (
            ex.promote_released(
                "t",
                KEY,
                org_id="o",
                queue="q",
                job_id="j",
                priority=0,
                created_ms=1,
                shard=0,
                seen_timer_sk="x",
                now_ms=5,
            ),
            ["timer_sk = x", "attribute_not_exists(dependencies_met) OR dependencies_met = True"],
        ),
        (
            workflow_ex.reset_for_retry(
                "t",
                KEY,
                gated=True,
                org_id="o",
                queue="q",
                job_id="j",
                priority=0,
                created_ms=1,
                shard=0,
                expires_ms=None,
                now_ms=5,
            ),
            ["status IN (cancelled, deadletter, failed)"],
        ),
        (workflow_ex.cancel_workflow("t", "o", "w", now_ms=5), ["status IN (failed, pending, running)"]),
        (
            ex.link_dependent("t", "o", "parent", "child"),
            ["attribute_exists(pk)", "NOT contains(dependents, child)"],
        ),
        (ex.unlink_dependent("t", "o", "parent", "child", 3), ["dependents[3] = child"]),
    ],
    ids=[
        "release",
        "release-scheduled",
        "cancel",
        "gate",
        "promote-gated",
        "promote-released",
        "retry",
        "cancel-wf",
        "link",
        "unlink",
    ],
)
def test_each_gate_write_asserts_its_from_state(args: dict[str, Any], must_contain: list[str]) -> None:
    condition = _condition(args)
    for part in must_contain:
        assert part in condition, condition


def test_a_release_gives_a_pending_job_the_ready_key_it_had_at_create() -> None:
    args = ex.release("t", KEY, status="pending", **RELEASE)
    values = {k: next(iter(v.values())) for k, v in args["ExpressionAttributeValues"].items()}
    assert values[":ready_pk"] == ex.ready_pk("o", "q", 0)
    assert values[":ready_sk"] == ex.ready_sk(0, 1, "j")
    scheduled = ex.release("t", KEY, status="scheduled", **RELEASE)
    assert "ready_pk" not in scheduled["ExpressionAttributeNames"].values()  # its timer promotes it


def test_a_gated_retry_comes_back_without_a_ready_key() -> None:
    common = dict(
        org_id="o", queue="q", job_id="j", priority=0, created_ms=1, shard=0, expires_ms=None, now_ms=5
    )
    gated = workflow_ex.reset_for_retry("t", KEY, gated=True, **common)
    free = workflow_ex.reset_for_retry("t", KEY, gated=False, **common)
    assert "REMOVE" in gated["UpdateExpression"] and ":ready_pk" not in gated.get(
        "ExpressionAttributeValues", {}
    )
    assert ":ready_pk" in free["ExpressionAttributeValues"]


def test_open_entries_round_trip_their_ids() -> None:
    entry = workflow_ex.open_entry("org-1", "wf-1", 123)
    assert entry["timer_pk"] == workflow_ex.OPEN_WORKFLOWS_PARTITION
    assert workflow_ex.ids_from_open_entry(entry["timer_sk"]) == ("org-1", "wf-1")


def test_an_unlink_removes_the_one_list_element_it_checked() -> None:
    args = ex.unlink_dependent("t", "o", "parent", "child", 3)
    assert args["UpdateExpression"] == "REMOVE #dependents[3]"
    assert args["Key"] == ex.job_key("o", "parent")
