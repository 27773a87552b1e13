"""The release/cascade decision, cycle detection and ordering of shared/jobs/dependencies.py."""

from __future__ import annotations

import pytest

from shared.jobs.dependencies import Decision, cancel_reason, decide, find_cycle, topological_order

R, C, W = Decision.RELEASE, Decision.CANCEL, Decision.WAIT


@pytest.mark.parametrize(
    ("mode", "parents", "expected"),
    [
        ("all", [], R),
        ("all", ["completed"], R),
        ("all", ["completed", "completed"], R),
        ("all", ["pending"], W),
        ("all", ["scheduled", "completed"], W),
        ("all", ["processing", "completed"], W),
        ("all", ["failed"], C),
        ("all", ["deadletter", "pending"], C),
        ("all", ["completed", "cancelled"], C),
        ("all", ["completed", None], C),  # a parent purged from the DLQ can never complete
        ("all", ["completed", "some-new-status"], W),
        ("any", [], R),
        ("any", ["pending", "completed"], R),
        ("any", ["deadletter", "completed"], R),
        ("any", ["deadletter", "processing"], W),
        ("any", ["pending", "pending"], W),
        ("any", ["failed", "deadletter", "cancelled"], C),
        ("any", [None, "cancelled"], C),
    ],
)
def test_decide(mode: str, parents: list[str | None], expected: Decision) -> None:
    assert decide(mode, parents) == expected


def test_cancel_reasons_name_the_parent_that_ended() -> None:
    assert cancel_reason("all", {"p1": "completed", "p2": "deadletter"}, single_parent=False) == (
        "Dependency job p2 ended deadletter"
    )
    assert cancel_reason("all", {"p": None}, single_parent=True) == "Parent job p no longer exists"
    assert "every one failed" in cancel_reason("any", {"a": "failed", "b": "cancelled"}, single_parent=False)


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({}, None),
        ({"a": []}, None),
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": [], "b": ["a"], "c": ["a", "b"]}, None),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"a": [], "b": ["a", "d"], "c": ["b"], "d": ["c"]}, ["b", "d", "c", "b"]),
        ({"a": ["outside"]}, None),  # edges to unknown nodes are the validator's business
        # a diamond is not a cycle, however it is walked
        ({"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}, None),
    ],
)
def test_find_cycle(graph: dict[str, list[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_find_cycle_handles_a_long_chain_without_recursion() -> None:
    chain = {f"j{i}": [f"j{i - 1}"] if i else [] for i in range(5000)}
    assert find_cycle(chain) is None
    chain["j0"] = ["j4999"]
    assert find_cycle(chain) is not None


@pytest.mark.parametrize(
    ("graph", "order"),
    [
        ({"a": [], "b": []}, ["a", "b"]),
        ({"load": ["t1", "t2"], "t1": ["x"], "t2": ["x"], "x": []}, ["x", "t1", "t2", "load"]),
        ({"c": ["b"], "b": ["a"], "a": [], "z": []}, ["a", "b", "c", "z"]),
        ({"a": ["elsewhere"]}, ["a"]),
    ],
)
def test_topological_order_puts_parents_first(graph: dict[str, list[str]], order: list[str]) -> None:
    assert topological_order(graph) == order
