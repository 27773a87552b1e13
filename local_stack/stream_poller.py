"""Reads the jobs table's stream from the embedded moto and hands batches to a reader, the way the
Lambda event source mapping does on AWS, with the same contract (shared/plumbing/schema.py's
StreamReaderDefinition):

- records that match none of the reader's filter patterns are never delivered (and the shard
  moves past them), exactly as Lambda's event filtering does;
- the reader answers a partial batch response; the shard restarts at the record it names
  (`batchItemFailures[0].itemIdentifier`, its SequenceNumber), and a reader that raises is
  retried from the batch's first record;
- a record retried `retry_attempts` times without getting through is sent to the on-failure queue
  (STREAM_FAILURE_QUEUE) and the shard goes on after it.

On AWS the two readers of the jobs table's stream each poll it. Here both poll in one loop, one
after the other, and usually from the same place: RoundReads lets the second take a copy of the
first's answer instead of asking moto again and parsing every record a second time (a tenth of
the stack's CPU under `make dev` load). Its batch is then what it would have read a moment
earlier; whatever was written since, it reads in the next round.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from collections.abc import Callable, Iterable
from typing import Any

from shared.plumbing import aws_clients, dynamo_codec

logger = logging.getLogger("spooled.local")

Reader = Callable[[list[dict[str, Any]]], "dict[str, Any] | None"]
Answer = dict[str, Any]


class RoundReads:
    """The GetRecords answers of one polling round, by stream, shard and position: a reader that
    reads from where another already read this round gets its own copy of that answer. Cleared by
    the loop at the start of each round, so an answer is never reused after its round."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, tuple[str, str] | None], bytes] = {}

    def clear(self) -> None:
        self._kept.clear()

    def read(
        self, where: tuple[str, str, tuple[str, str] | None], get_records: Callable[[], Answer | None]
    ) -> Answer | None:
        kept = self._kept.get(where)
        if kept is not None:
            # A copy of its own, as each reader on AWS parses its own: a reader may change what
            # it was given. A pickle round trip copies in C, several times faster than deepcopy.
            answer: Answer = pickle.loads(kept)
            return answer
        fresh = get_records()
        if fresh is not None:
            self._kept[where] = pickle.dumps(fresh, protocol=pickle.HIGHEST_PROTOCOL)
        return fresh


def matches(pattern: Any, value: Any) -> bool:
    """The part of Lambda's event filter grammar the schema uses: nested objects, and leaf lists of
    exact values or {"prefix": …}; a pattern's fields must all match (AND)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            name in value and matches(sub, value[name]) for name, sub in pattern.items()
        )
    if isinstance(pattern, list):
        for choice in pattern:
            if isinstance(choice, dict) and "prefix" in choice:
                if isinstance(value, str) and value.startswith(choice["prefix"]):
                    return True
            elif choice == value:
                return True
        return False
    return bool(pattern == value)


def passes(filters: Iterable[dict[str, Any]], record: dict[str, Any]) -> bool:
    """True when the record matches one of the patterns (OR), or when there are none."""
    patterns = list(filters)
    return not patterns or any(matches(p, record) for p in patterns)


class StreamPoller:
    def __init__(
        self,
        table_name: str,
        deliver: Reader,
        shard_refresh_seconds: float = 0.0,
        *,
        filters: Iterable[dict[str, Any]] = (),
        retry_attempts: int = 5,
        failure_queue: str | None = None,
        retry_backoff_seconds: float = 0.0,
        round_reads: RoundReads | None = None,
    ) -> None:
        self.table_name = table_name
        self.round_reads = round_reads
        self.deliver = deliver
        self.filters = tuple(filters)
        self.retry_attempts = retry_attempts
        self.failure_queue = failure_queue  # a queue name; its URL is looked up on first use
        # A failed record is retried after this, doubled each time (Lambda backs off too): a
        # dependency down for a few seconds does not use up the retries in a few milliseconds.
        self.retry_backoff_seconds = retry_backoff_seconds
        self._not_before: dict[str, float] = {}  # shard id → monotonic time of its next retry
        # Listing the shards is two calls (describe the table, then its stream) and moto keeps one
        # shard per table: a reader that polls on every write lists them at most this often.
        self.shard_refresh_seconds = shard_refresh_seconds
        self._listed_at: float | None = None
        self._iterators: dict[str, str | None] = {}
        # shard id → where to read on: (AFTER_SEQUENCE_NUMBER | AT_SEQUENCE_NUMBER, sequence number)
        self._positions: dict[str, tuple[str, str]] = {}
        self._attempts: dict[str, int] = {}  # sequence number → failed deliveries starting there
        self._arn = ""
        self.sent_to_failure_queue = 0

    def _refresh_shards(self) -> None:
        now = time.monotonic()
        if self._listed_at is not None and now - self._listed_at < self.shard_refresh_seconds:
            return
        self._listed_at = now
        arn = aws_clients.client("dynamodb").describe_table(TableName=self.table_name)["Table"][
            "LatestStreamArn"
        ]
        self._arn = arn
        streams = aws_clients.client("dynamodbstreams")
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def _iterator_for(self, shard_id: str) -> str | None:
        """An iterator at the shard's position. moto cancels a transaction (an idempotency key
        race, say) by putting back a deep copy of the table, and iterators made before keep
        reading the discarded copy's stream, where nothing new ever arrives: one made afresh from
        the position follows the live table (and restarts at a failed record)."""
        position = self._positions.get(shard_id)
        if position is None:
            return self._iterators[shard_id]
        kind, sequence = position
        return str(
            aws_clients.client("dynamodbstreams").get_shard_iterator(
                StreamArn=self._arn, ShardId=shard_id, ShardIteratorType=kind, SequenceNumber=sequence
            )["ShardIterator"]
        )

    def poll_once(self) -> int:
        """Deliver whatever is new; returns how many records were read (delivered or filtered out)."""
        self._refresh_shards()
        read = 0
        for shard_id in list(self._iterators):
            if time.monotonic() < self._not_before.get(shard_id, 0.0):
                continue
            response = self._read(shard_id)
            if response is None:
                continue
            self._iterators[shard_id] = response.get("NextShardIterator")
            records = [{**r, "eventSource": "aws:dynamodb"} for r in response.get("Records", [])]
            if not records:
                continue
            wanted = [r for r in records if passes(self.filters, r)]
            failed_at = self._deliver(wanted) if wanted else None
            if failed_at is None:
                self._positions[shard_id] = ("AFTER_SEQUENCE_NUMBER", _sequence(records[-1]))
                read += len(records)
                continue
            record = wanted[failed_at]
            sequence = _sequence(record)
            self._attempts[sequence] = self._attempts.get(sequence, 0) + 1
            if self._attempts[sequence] > self.retry_attempts:
                self._send_to_failure_queue(record)  # and the shard goes on after it
                self._attempts.pop(sequence, None)
                self._positions[shard_id] = ("AFTER_SEQUENCE_NUMBER", sequence)
            else:
                self._positions[shard_id] = ("AT_SEQUENCE_NUMBER", sequence)
                backoff = self.retry_backoff_seconds * 2 ** (self._attempts[sequence] - 1)
                self._not_before[shard_id] = time.monotonic() + backoff
            # Counted as read, so a draining loop polls again at once (Lambda retries at once too).
            read += records.index(record) + 1
        return read

    def _read(self, shard_id: str) -> Answer | None:
        """GetRecords from the shard's position (None when the shard has no iterator: closed)."""

        def get_records() -> Answer | None:
            iterator = self._iterator_for(shard_id)
            if iterator is None:
                return None
            answer: Answer = aws_clients.client("dynamodbstreams").get_records(
                ShardIterator=iterator, Limit=1000
            )
            return answer

        if self.round_reads is None:
            return get_records()
        return self.round_reads.read((self._arn, shard_id, self._positions.get(shard_id)), get_records)

    def _deliver(self, records: list[dict[str, Any]]) -> int | None:
        """Index of the record to restart at, or None when the whole batch went through."""
        try:
            answer = self.deliver(records)
        except Exception:
            logger.exception("stream reader failed; retrying its batch from the first record")
            return 0
        failures = (answer or {}).get("batchItemFailures") or []
        if not failures:
            return None
        restart = str(failures[0]["itemIdentifier"])
        for index, record in enumerate(records):
            if _sequence(record) == restart:
                return index
        return 0  # an identifier that is not in the batch: Lambda retries the batch whole

    def _send_to_failure_queue(self, record: dict[str, Any]) -> None:
        logger.error("stream record %s failed every retry; sent to the failure queue", _sequence(record))
        self.sent_to_failure_queue += 1
        if self.failure_queue is None:
            return
        sqs = aws_clients.client("sqs")
        url = sqs.get_queue_url(QueueName=self.failure_queue)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(_plain(record), default=str))


def _sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """The record as JSON can carry it (boto3 gives the creation time as a datetime)."""
    change = dict(record.get("dynamodb", {}))
    when = change.get("ApproximateCreationDateTime")
    if hasattr(when, "timestamp"):
        change["ApproximateCreationDateTime"] = when.timestamp()
    return {**record, "dynamodb": change, "keys": dynamo_codec.decode_item(change.get("Keys") or {})}
