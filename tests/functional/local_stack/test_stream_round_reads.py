"""make dev's two stream readers share a round's GetRecords answer (local_stack/stream_poller.py,
RoundReads) without seeing any less, or anything different, than reading on their own."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.stream_poller import RoundReads, StreamPoller
from shared.plumbing import aws_clients
from shared.plumbing.config import settings

JOBS = "/api/v1/jobs"


def _count_get_records(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    streams = aws_clients.client("dynamodbstreams")
    original = streams.get_records
    calls = [0]

    def counted(**kwargs: Any) -> Any:
        calls[0] += 1
        return original(**kwargs)

    monkeypatch.setattr(streams, "get_records", counted)
    return calls


def _sequences(batches: list[list[dict[str, Any]]]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for batch in batches for r in batch]


def _poll_round(reads: RoundReads, *pollers: StreamPoller) -> None:
    reads.clear()
    for poller in pollers:
        poller.poll_once()


def test_readers_at_the_same_place_share_one_read_and_get_copies_of_their_own(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        api.post(JOBS, {"queue_name": "shared", "payload": {"n": n}})
    calls = _count_get_records(monkeypatch)
    first: list[list[dict[str, Any]]] = []
    second: list[list[dict[str, Any]]] = []

    def scribbles(records: list[dict[str, Any]]) -> None:
        first.append(records)
        for record in records:  # a reader may change what it was given
            record["dynamodb"]["Keys"]["pk"] = {"S": "scribbled"}

    reads = RoundReads()
    one = StreamPoller(settings().table_name, scribbles, round_reads=reads)
    two = StreamPoller(settings().table_name, second.append, round_reads=reads)
    _poll_round(reads, one, two)

    assert calls[0] == 1
    assert _sequences(second) == _sequences(first) and len(_sequences(second)) >= 3
    assert first[0][0]["dynamodb"]["Keys"]["pk"] == {"S": "scribbled"}
    assert all(r["dynamodb"]["Keys"]["pk"] != {"S": "scribbled"} for r in second[0])

    # The next round reads afresh: a record written after the first round is not missed by either.
    api.post(JOBS, {"queue_name": "shared", "payload": {"n": 3}})
    _poll_round(reads, one, two)
    assert calls[0] == 2
    assert _sequences(second) == _sequences(first)
    assert len(second) == 2 and len(second[1]) >= 1


def test_a_reader_retrying_from_a_failed_record_reads_on_its_own(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        api.post(JOBS, {"queue_name": "retry", "payload": {"n": n}})
    calls = _count_get_records(monkeypatch)
    failing: list[list[str]] = []
    steady: list[list[dict[str, Any]]] = []

    def fails_at_the_third(records: list[dict[str, Any]]) -> dict[str, Any]:
        failing.append([r["dynamodb"]["SequenceNumber"] for r in records])
        if len(failing) == 1:
            return {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    reads = RoundReads()
    retrying = StreamPoller(settings().table_name, fails_at_the_third, round_reads=reads)
    other = StreamPoller(settings().table_name, steady.append, round_reads=reads)
    _poll_round(reads, retrying, other)
    assert calls[0] == 1  # the same place: one read

    _poll_round(reads, retrying, other)
    # Now at different places: the retry starts at the failed record, the other reader has nothing.
    assert calls[0] == 3
    assert failing[1] == failing[0][2:]
    assert _sequences(steady) == failing[0]
