"""Reads the jobs table's stream from the embedded moto and hands batches to the dispatcher,
the way the Lambda event source mapping does on AWS."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.plumbing import aws_clients


class StreamPoller:
    def __init__(
        self,
        table_name: str,
        deliver: Callable[[list[dict[str, Any]]], None],
        shard_refresh_seconds: float = 0.0,
    ) -> None:
        self.table_name = table_name
        self.deliver = deliver
        # Listing the shards is two calls (describe the table, then its stream) and moto keeps one
        # shard per table: a reader that polls on every write lists them at most this often.
        self.shard_refresh_seconds = shard_refresh_seconds
        self._listed_at: float | None = None
        self._iterators: dict[str, str | None] = {}
        self._positions: dict[str, str] = {}  # shard id → sequence number of the last record read
        self._arn = ""

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
        """An iterator just past the last record read. moto cancels a transaction (an idempotency
        key race, say) by putting back a deep copy of the table, and iterators made before keep
        reading the discarded copy's stream, where nothing new ever arrives: one made afresh from
        the last sequence number follows the live table."""
        position = self._positions.get(shard_id)
        if position is None:
            return self._iterators[shard_id]
        return str(
            aws_clients.client("dynamodbstreams").get_shard_iterator(
                StreamArn=self._arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=position,
            )["ShardIterator"]
        )

    def poll_once(self) -> int:
        """Deliver whatever is new; returns how many records were delivered."""
        self._refresh_shards()
        streams = aws_clients.client("dynamodbstreams")
        delivered = 0
        for shard_id in list(self._iterators):
            iterator = self._iterator_for(shard_id)
            if iterator is None:
                continue
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            self._iterators[shard_id] = response.get("NextShardIterator")
            records = [{**r, "eventSource": "aws:dynamodb"} for r in response.get("Records", [])]
            if records:
                self._positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                self.deliver(records)
                delivered += len(records)
        return delivered
