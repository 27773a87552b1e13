"""Pure parts of the exactly-once stream application and of the local poller's event filter."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.stream_poller import matches, passes
from shared.jobs import expressions as ex
from shared.jobs.queues import stream_apply
from shared.plumbing import schema


def _record(seq: str, pk: str = "JOB#o#3", sk: str = "j") -> dict[str, Any]:
    return {"dynamodb": {"SequenceNumber": seq, "Keys": {"pk": {"S": pk}, "sk": {"S": sk}}}}


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("9", "10"),
        ("99", "100"),
        ("100000000000000000000", "100000000000000000001"),
        ("5" * 21, "1" + "0" * 39),
    ],
)
def test_padded_sequence_numbers_sort_numerically(low: str, high: str) -> None:
    assert int(low) < int(high)
    assert ex.padded_sequence(low) < ex.padded_sequence(high)
    assert len(ex.padded_sequence(high)) == ex.SEQUENCE_DIGITS


def test_records_are_grouped_by_queue_in_stream_order() -> None:
    def job(seq: str, queue: str | None) -> dict[str, Any]:
        image = (
            {"pk": {"S": f"JOB#o#{seq}"}, "org_id": {"S": "o"}, "queue_name": {"S": queue}} if queue else None
        )
        return {"dynamodb": {"SequenceNumber": seq, "NewImage": image, "OldImage": None}}

    grouped = stream_apply.by_queue([job("1", "a"), job("2", "b"), job("3", None), job("4", "a")])
    assert {q: [r["dynamodb"]["SequenceNumber"] for r in rs] for q, rs in grouped.items()} == {
        ("o", "a"): ["1", "4"],
        ("o", "b"): ["2"],
    }


def test_the_filter_grammar() -> None:
    pattern = {
        "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "ORG#"}]}, "sk": {"S": [{"prefix": "QUEUE#"}, "X"]}}}
    }
    assert matches(pattern, _record("1", "ORG#o", "QUEUE#q"))
    assert matches(pattern, _record("1", "ORG#o", "X"))
    assert not matches(pattern, _record("1", "ORG#o", "QSTAT#q"))  # AND across fields
    assert not matches(pattern, {"dynamodb": {"Keys": {"pk": {"S": "ORG#o"}}}})  # a missing field
    assert passes((), _record("1", "ANY#"))  # no filter: everything
    assert passes(schema.DISPATCHER_STREAM.filters, _record("1", "JOB#o#j"))
    assert not passes(schema.DISPATCHER_STREAM.filters, _record("1", "SMARK#o#q", "0" * 40))
