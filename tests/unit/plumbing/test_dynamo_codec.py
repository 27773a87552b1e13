from __future__ import annotations

from typing import Any

import pytest

from shared.plumbing.dynamo_codec import decode_item, encode_item


@pytest.mark.parametrize(
    "item",
    [
        {"s": "text", "n": 42, "neg": -7, "b": True, "l": [1, "a", False], "m": {"x": {"y": [1]}}},
        {"unicode": "naïve ✓", "zero": 0, "empty_list": [], "empty_map": {}},
    ],
)
def test_round_trip(item: dict[str, Any]) -> None:
    assert decode_item(encode_item(item)) == item


def test_none_values_are_left_out() -> None:
    assert encode_item({"a": 1, "b": None}) == {"a": {"N": "1"}}
