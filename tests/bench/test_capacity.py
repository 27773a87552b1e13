"""DynamoDB's capacity rules as bench/capacity.py implements them, case by case."""

from __future__ import annotations

import pytest

from bench import capacity as c

TABLE = c.TableShape(
    name="t",
    key_attributes=("pk", "sk"),
    indexes=(
        c.IndexShape("ready", "ready_pk", "ready_sk", "KEYS_ONLY"),
        c.IndexShape("timers", "timer_pk", "timer_sk", "INCLUDE", ("status",)),
        c.IndexShape("everything", "kind", None, "ALL"),
    ),
)
KEY = {"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}}


def s(text: str) -> dict[str, str]:
    return {"S": text}


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (s("abc"), 3),
        (s("é"), 2),  # UTF-8 bytes, not characters
        ({"N": "7"}, 2),  # one significant digit: 1 byte for it, 1 byte overhead
        ({"N": "123456"}, 4),
        ({"N": "-1.500"}, 2),  # sign and trailing zeros do not count
        ({"N": "100"}, 2),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"B": b"\x00\x01"}, 2),
        ({"L": []}, 3),
        ({"L": [s("ab"), {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"k": s("vv")}}, 3 + 1 + 1 + 2),
        ({"SS": ["a", "bc"]}, 3),
    ],
)
def test_value_sizes(value: dict[str, object], size: int) -> None:
    assert c.value_size(value) == size


def test_item_size_counts_names_and_values() -> None:
    assert c.item_size({"pk": s("JOB#1"), "n": {"N": "42"}}) == 2 + 5 + 1 + 2
    assert c.item_size(None) == 0


@pytest.mark.parametrize(
    ("size", "units"),
    [(0, 1), (1, 1), (1024, 1), (1025, 2), (3000, 3)],
)
def test_write_units_per_started_kilobyte(size: int, units: int) -> None:
    assert c.write_units(size) == units


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, True, 1.0), (0, False, 0.5), (4096, True, 1.0), (4097, True, 2.0), (8192, False, 1.0)],
)
def test_read_units_per_started_4kb(size: int, consistent: bool, units: float) -> None:
    assert c.read_units(size, consistent) == units


def job(**extra: str) -> dict[str, dict[str, str]]:
    return {**KEY, "status": s("pending"), **{k: s(v) for k, v in extra.items()}}


READY = {"ready_pk": "q#0", "ready_sk": "100#1"}
TIMER = {"timer_pk": "q", "timer_sk": "200#1"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, job(**READY), {"ready": 1}),  # put into the index
        (job(**READY), job(**TIMER), {"ready": 1, "timers": 1}),  # out of one, into the other
        (job(**READY), job(**READY, note="x"), {}),  # keys-only: a non-key change costs nothing
        (job(**TIMER), {**job(**TIMER), "status": s("processing")}, {"timers": 1}),  # projected attribute
        (job(**TIMER), job(timer_pk="q", timer_sk="300#1"), {"timers": 2}),  # key change: delete + put
        (job(), job(note="x"), {}),  # in no index before or after
        (job(**READY), None, {"ready": 1}),  # a delete takes the entry out
    ],
)
def test_index_writes(
    old: dict[str, object] | None, new: dict[str, object] | None, expected: dict[str, int]
) -> None:
    assert c.item_write_cost(old, new, TABLE).indexes == expected  # type: ignore[arg-type]


def test_an_all_projection_rewrites_the_entry_on_any_change() -> None:
    before = job(kind="job", payload="x" * 1500)
    after = job(kind="job", payload="x" * 1500, note="y")
    assert c.item_write_cost(before, after, TABLE).indexes == {"everything": 2}


def test_the_larger_image_sets_the_base_cost_and_transactions_double_it() -> None:
    small, large = job(), job(payload="x" * 1500)
    assert c.item_write_cost(large, small, TABLE).base == 2
    assert c.item_write_cost(small, large, TABLE, transactional=True).base == 4


def test_index_writes_are_attributed_to_their_partitions() -> None:
    cost = c.item_write_cost(job(**READY), job(**TIMER), TABLE)
    assert cost.partitions == {("ready", "q#0"): 1, ("timers", "q"): 1}


def test_a_failed_condition_costs_the_item_as_it_stands() -> None:
    assert c.failed_write_cost(job(payload="x" * 2000)).total == 2
    assert c.failed_write_cost(None).total == 1
    assert c.failed_write_cost(job(), transactional=True).total == 2


def test_a_query_rounds_the_sum_of_what_it_returns() -> None:
    items = [job(payload="x" * 1500) for _ in range(3)]  # ~4.6 KB together
    assert c.query_read_units(items, consistent=False) == 1.0
    assert c.query_read_units([], consistent=False) == 0.5


def test_shape_from_describe_table() -> None:
    shape = c.shape_from_description(
        {
            "TableName": "t",
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "timers",
                    "KeySchema": [
                        {"AttributeName": "timer_pk", "KeyType": "HASH"},
                        {"AttributeName": "timer_sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
                }
            ],
        }
    )
    assert shape.key_attributes == ("pk", "sk")
    assert shape.indexes == (c.IndexShape("timers", "timer_pk", "timer_sk", "INCLUDE", ("status",)),)
