"""What the report concludes from a measured breakdown: the savings it proposes for missed goals."""

from __future__ import annotations

from typing import Any

from bench import goal_analysis


def _life(item_bytes: int, create_indexes: dict[str, float], timers: float) -> dict[str, Any]:
    def step(table: float, indexes: dict[str, float]) -> dict[str, Any]:
        return {
            "write_units": table + sum(indexes.values()),
            "table_write_units": table,
            "index_write_units": indexes,
            "item_bytes_max": item_bytes,
        }

    table = 2.0 if item_bytes > 1024 else 1.0
    by_step = {
        "create": step(table, {"ready": 1.0, **create_indexes}),
        "claim": step(table, {"ready": 1.0, "timers": timers}),
        "complete": step(table, {"timers": timers}),
    }
    return {"by_step": by_step, "write_units_per_job": sum(s["write_units"] for s in by_step.values())}


def test_a_big_item_two_listing_indexes_and_lease_timers_each_get_a_saving() -> None:
    savings = goal_analysis.write_unit_savings(_life(1900, {"by_org": 1.0, "by_queue": 1.0}, 1.0))
    # payload item: claim and complete 2 -> 1 each, create 2 -> 3; listings 2; lease timers 2
    assert [units for _, units in savings] == [1.0, 2.0, 2.0]
    assert "~869 bytes" in savings[0][0]  # 1,900 bytes less the 1 KB payload attribute


def test_nothing_to_propose_for_a_lean_breakdown() -> None:
    assert goal_analysis.write_unit_savings(_life(800, {"by_queue": 1.0}, 0.0)) == []


def test_with_a_small_item_two_listing_indexes_become_one() -> None:
    savings = goal_analysis.write_unit_savings(_life(800, {"by_org": 1.0, "by_queue": 1.0}, 0.0))
    assert [units for _, units in savings] == [1.0]


def test_a_missed_write_goal_reports_where_the_units_go() -> None:
    why, what = goal_analysis.write_units_analysis(_life(1900, {"by_org": 1.0, "by_queue": 1.0}, 1.0))
    assert why.startswith("create 5.00 (item 2.00 at 1,900 bytes, ready 1.00, by_org 1.00, by_queue 1.00)")
    assert what.endswith("All of these: ~7.00 units per job.")
