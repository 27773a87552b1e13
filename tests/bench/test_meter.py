"""The meter against in-process moto: it sees the calls the service's clients make and prices them
from the item images, without the service code knowing it is measured."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from bench.meter import ImageReader, Meter
from shared.plumbing import aws_clients, dynamo_codec
from shared.plumbing.config import settings


def _job_item(payload: str, **extra: Any) -> dict[str, Any]:
    return dynamo_codec.encode_item(
        {"pk": "JOB#org#1", "sk": "JOB", "status": "pending", "payload": payload, **extra}
    )


def test_writes_are_priced_from_their_images(aws: dict[str, str]) -> None:
    table = settings().table_name
    meter = Meter(ImageReader(boto3.session.Session().client("dynamodb")))
    with meter.installed(), meter.invocation("api", "create") as invocation:
        db = aws_clients.client("dynamodb")
        # 1.5 KB item that enters the ready index: 2 units for the item, 1 for the index entry
        db.put_item(TableName=table, Item=_job_item("x" * 1500, ready_pk="o#q#0", ready_sk="100#1"))
        db.update_item(  # leaves the ready index, enters the timers index: 2 + 1 + 1
            TableName=table,
            Key={"pk": {"S": "JOB#org#1"}, "sk": {"S": "JOB"}},
            UpdateExpression="SET timer_pk = :p, timer_sk = :s REMOVE ready_pk, ready_sk",
            ExpressionAttributeValues={":p": {"S": "o#q"}, ":s": {"S": "200#1"}},
        )
        with pytest.raises(db.exceptions.ConditionalCheckFailedException):  # billed as the item stands
            db.put_item(TableName=table, Item=_job_item("y"), ConditionExpression="attribute_not_exists(pk)")
        db.get_item(TableName=table, Key={"pk": {"S": "JOB#org#1"}, "sk": {"S": "JOB"}}, ConsistentRead=True)

    put, update, lost, get = meter.calls
    assert (put.write_units, put.index_write_units) == (3, {"ready": 1})
    assert (update.write_units, update.index_write_units) == (4, {"ready": 1, "timers": 1})
    assert update.partition_write_units == {("ready", "o#q#0"): 1, ("timers", "o#q"): 1}
    assert (lost.write_units, lost.conditional_failed, lost.index_write_units) == (2, True, {})
    assert get.read_units == 1.0
    assert {c.function for c in meter.calls} == {"api"}
    assert invocation.calls[("dynamodb", "PutItem")] == 2
    assert 0 < invocation.own_seconds <= invocation.wall_seconds


def test_paused_calls_and_calls_after_uninstall_are_not_counted(aws: dict[str, str]) -> None:
    table = settings().table_name
    meter = Meter(ImageReader(boto3.session.Session().client("dynamodb")))
    with meter.installed():
        with meter.paused():
            aws_clients.client("dynamodb").put_item(TableName=table, Item=_job_item("a"))
        aws_clients.client("dynamodb").describe_table(TableName=table)
    aws_clients.client("dynamodb").put_item(TableName=table, Item=_job_item("b"))
    assert [(c.operation, c.write_units, c.read_units) for c in meter.calls] == [("DescribeTable", 0, 0)]


def test_sqs_bodies_are_kept_for_delivery(aws: dict[str, str]) -> None:
    meter = Meter()
    with meter.installed():
        sqs = aws_clients.client("sqs")
        url = sqs.create_queue(QueueName="bench-test")["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "1", "MessageBody": "one"},
                {"Id": "2", "MessageBody": "two", "DelaySeconds": 60},
            ],
        )
    first, second = meter.calls[-1].sent_messages
    assert (first.body, second.body) == ("one", "two")
    assert second.visible_at_ms - first.visible_at_ms == 60_000


def test_a_filtered_query_is_billed_for_what_it_read(aws: dict[str, str]) -> None:
    table = settings().table_name
    db = aws_clients.client("dynamodb")
    for i in range(4):  # four ~3 KB items in one partition, of which the filter keeps one
        item = {"pk": "QUEUE#q", "sk": f"{i}", "status": "done" if i else "pending", "blob": "x" * 3000}
        db.put_item(TableName=table, Item=dynamo_codec.encode_item(item))
    meter = Meter(ImageReader(boto3.session.Session().client("dynamodb")))
    with meter.installed():
        aws_clients.client("dynamodb").query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            FilterExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pk": {"S": "QUEUE#q"}, ":pending": {"S": "pending"}},
            ConsistentRead=True,
        )
    assert meter.calls[0].read_units == 3.0  # ~12 KB read, not the ~3 KB returned
