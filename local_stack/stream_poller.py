"""Reads the jobs table's stream from the embedded moto and hands batches to the dispatcher,
the way the Lambda event source mapping does on AWS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared import aws_clients


class StreamPoller:
    def __init__(self, table_name: str, deliver: Callable[[list[dict[str, Any]]], None]) -> None:
        self.table_name = table_name
        self.deliver = deliver
        self._iterators: dict[str, str | None] = {}

    def _refresh_shards(self) -> None:
        arn = aws_clients.client("dynamodb").describe_table(TableName=self.table_name)["Table"][
            "LatestStreamArn"
        ]
        streams = aws_clients.client("dynamodbstreams")
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def poll_once(self) -> int:
        """Deliver whatever is new; returns how many records were delivered."""
        self._refresh_shards()
        streams = aws_clients.client("dynamodbstreams")
        delivered = 0
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            self._iterators[shard_id] = response.get("NextShardIterator")
            records = [{**r, "eventSource": "aws:dynamodb"} for r in response.get("Records", [])]
            if records:
                self.deliver(records)
                delivered += len(records)
        return delivered
