"""The scale model's accounting on a tiny synthetic table of the test's own (not the product's, so
these hold whatever the store's layout becomes): which partition each write and read lands on, how
many units, round trips, the ceiling arithmetic, and the pruning of completed jobs."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import Any

import boto3
import pytest

from bench import capacity, lifecycle, payloads, scale_measured
from bench.meter import CallRecord, ImageReader, Meter, item_kind
from local_stack.resources import table_create_args
from shared.plumbing import aws_clients, dynamo_codec, schema

SYNTHETIC = schema.TableDefinition(
    logical_id="Synthetic",
    env_var="BENCH_SYNTHETIC_TABLE",
    local_name="bench-synthetic",
    partition_key=schema.KeyAttribute("p"),
    sort_key=schema.KeyAttribute("s"),
    indexes=(
        schema.GlobalIndex("by_group", schema.KeyAttribute("g"), schema.KeyAttribute("gs")),
        schema.GlobalIndex("due", schema.KeyAttribute("d"), schema.KeyAttribute("ds"), "INCLUDE", ("state",)),
    ),
)
TABLE = SYNTHETIC.local_name


@pytest.fixture
def synthetic(aws: dict[str, str]) -> Any:
    client = boto3.session.Session().client("dynamodb")
    client.create_table(**table_create_args(SYNTHETIC))
    return client


def _item(**attributes: Any) -> dict[str, Any]:
    return dynamo_codec.encode_item({"p": "JOB#o#j1", "s": "JOB", **attributes})


KEY = {"p": {"S": "JOB#o#j1"}, "s": {"S": "JOB"}}


def test_each_write_lands_on_its_table_and_index_partitions(synthetic: Any) -> None:
    meter = Meter(ImageReader(synthetic))
    with meter.installed(), meter.invocation("api", "create"):
        db = aws_clients.client("dynamodb")
        # ~1.5 KB, in by_group: 2 units on the table partition, 1 put on the index partition
        db.put_item(TableName=TABLE, Item=_item(g="Q1", gs="1", body="x" * 1500))
        # the index key changes partition: a delete on Q1 and a put on Q2; enters `due`
        db.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression="SET g = :g, d = :d, ds = :ds, #st = :st REMOVE body",
            ExpressionAttributeNames={"#st": "state"},
            ExpressionAttributeValues={
                ":g": {"S": "Q2"},
                ":d": {"S": "T"},
                ":ds": {"S": "9"},
                ":st": {"S": "r"},
            },
        )
        db.update_item(TableName=TABLE, Key=KEY, UpdateExpression="REMOVE d, ds")  # leaves `due`
    put, move, leave = meter.calls
    assert (put.write_units, put.table_partition_write_units) == (3, {("table", "JOB#o#j1"): 2})
    assert put.partition_write_units == {("by_group", "Q1"): 1}
    assert put.item_kind_write_units == {"JOB/JOB": 2}
    assert move.partition_write_units == {("by_group", "Q1"): 1, ("by_group", "Q2"): 1, ("due", "T"): 1}
    assert move.table_partition_write_units == {("table", "JOB#o#j1"): 2}  # billed on the larger image
    assert leave.partition_write_units == {("due", "T"): 1}
    assert leave.write_units == 2


def test_reads_land_on_the_partition_their_key_names(synthetic: Any) -> None:
    synthetic.put_item(TableName=TABLE, Item=_item(g="Q1", gs="1"))
    meter = Meter(ImageReader(synthetic))
    with meter.installed():
        db = aws_clients.client("dynamodb")
        db.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)
        db.query(
            TableName=TABLE,
            IndexName="by_group",
            KeyConditionExpression="#g = :g AND gs > :zero",
            ExpressionAttributeNames={"#g": "g"},
            ExpressionAttributeValues={":g": {"S": "Q1"}, ":zero": {"S": "0"}},
        )
    get, query = meter.calls
    assert get.partition_read_units == {("table", "JOB#o#j1"): 1.0}
    assert query.partition_read_units == {("by_group", "Q1"): 0.5}  # eventually consistent


def test_partition_units_and_the_ceiling_they_set() -> None:
    meter = Meter()
    # 100 jobs: one index partition takes 2 WRU per job (500 jobs/s at 1,000 WRU/s), one table
    # partition 1.5 RRU per job (2,000 jobs/s at 3,000 RRU/s), the rest spread thin.
    meter.calls = [
        CallRecord("api", "claim", "dynamodb", "UpdateItem", partition_write_units={("timers", "q"): 200}),
        CallRecord("api", "claim", "dynamodb", "GetItem", partition_read_units={("table", "KEY#k"): 150.0}),
        CallRecord(
            "api",
            "create",
            "dynamodb",
            "PutItem",
            table_partition_write_units={("table", f"JOB#{n}"): 1 for n in range(100)},
        ),
    ]
    result = scale_measured.ceiling(meter, 100, goal_rate=10_000)
    assert result["jobs_per_second"] == 500.0
    assert result["limiting_key"] == "timers q (writes)"
    assert [r["jobs_per_second"] for r in result["hottest"][:2]] == [500.0, 2000.0]
    assert result["hottest"][1]["limited_by"] == "reads"
    # Each kind's own ceiling: an index by name, a table partition by its key's first word.
    assert result["ceiling_by_kind"] == {"timers": 500.0, "table KEY": 2000.0, "table JOB": 100_000.0}
    busiest = result["busiest_write_partition"]
    assert busiest["share_of_all_writes"] == pytest.approx(200 / 300, abs=1e-4)
    assert busiest["write_units_per_second_at_goal"] == 20_000.0  # 2 WRU/job x 10,000 jobs/s
    assert busiest["times_the_partition_limit_at_goal"] == 20.0


def test_overlapping_calls_of_one_invocation_are_one_round_trip() -> None:
    meter = Meter()
    with meter.invocation("api", "claim") as one, meter.invocation("api", "claim") as two:
        pass

    def call(invocation: Any, started: float, ended: float) -> CallRecord:
        return CallRecord(
            "api", "claim", "dynamodb", "GetItem", invocation_id=id(invocation), started=started, ended=ended
        )

    # one: a read, then two reads in parallel (one round), then a write: 3 round trips
    meter.calls = [call(one, 0, 1), call(one, 1, 2), call(one, 1.1, 1.9), call(one, 2, 3)]
    meter.calls += [call(two, 0, 1)]
    assert sorted(lifecycle.round_trips(meter, "claim")) == [1, 3]


def test_calls_from_a_helper_thread_count_in_the_open_invocation(synthetic: Any) -> None:
    meter = Meter(ImageReader(synthetic))
    with meter.installed(), meter.invocation("api", "claim") as invocation:
        db = aws_clients.client("dynamodb")
        helper = threading.Thread(target=lambda: db.describe_table(TableName=TABLE))
        helper.start()
        helper.join()
    assert [(c.step, c.operation) for c in meter.calls] == [("claim", "DescribeTable")]
    assert meter.calls[0].invocation_id == id(invocation)


def test_item_kind_is_read_off_the_key() -> None:
    shape = capacity.shape_from_definition(SYNTHETIC, TABLE)
    assert item_kind({"p": {"S": "RATE#org#1"}, "s": {"S": "W|17"}}, shape) == "RATE/W"
    # A job item's sort key is its id: one kind for every job, not one per id.
    job = {"p": {"S": "JOB#org#3"}, "s": {"S": "0190e2a4-1c2d-7abc-8d03-0123456789ab"}}
    assert item_kind(job, shape) == "JOB/{id}"


def test_the_scale_model_prunes_what_the_completed_jobs_wrote_and_nothing_else(synthetic: Any) -> None:
    pairs = (("JOB#o#3", "j1"), ("PAYLOAD#j1", "0"), ("JOB#o#3", "j2"), ("ORG#o", "QSTAT#q"))
    for p, s in pairs:  # job items: JOB#{org}#{shard} / {job id}
        synthetic.put_item(TableName=TABLE, Item=dynamo_codec.encode_item({"p": p, "s": s}))
    shape = capacity.shape_from_definition(SYNTHETIC, TABLE)
    images = scale_measured.MotoImageReader(synthetic, {TABLE: shape})
    assert images.prune(TABLE, {"j1"}) == 2
    left = sorted((i["p"]["S"], i["s"]["S"]) for i in synthetic.scan(TableName=TABLE)["Items"])
    assert left == [("JOB#o#3", "j2"), ("ORG#o", "QSTAT#q")]


def test_the_schema_shape_is_the_table_the_stack_creates(aws: dict[str, str]) -> None:
    client = boto3.session.Session().client("dynamodb")
    name = aws[schema.JOBS_TABLE.env_var]
    described = capacity.shape_from_description(client.describe_table(TableName=name)["Table"])
    assert capacity.shape_from_definition(schema.JOBS_TABLE, name) == described


def test_payload_classes_are_deterministic_and_realistic() -> None:
    realistic = [payloads.compact(payloads.realistic(n)) for n in range(20)]
    assert all(1000 <= len(body) <= 1024 for body in realistic)
    assert realistic[0] == payloads.compact(payloads.realistic(0))  # seeded
    assert len(set(realistic)) == 20
    ratio = sum(len(zlib.compress(b)) for b in realistic) / sum(map(len, realistic))
    assert 0.3 < ratio < 0.8  # compresses like real JSON, not like "xxxx"
    random_body = payloads.compact(payloads.incompressible(0))
    assert len(random_body) == 1024 and len(zlib.compress(random_body)) > 0.7 * 1024
    assert 80 <= len(payloads.compact(payloads.tiny(0))) <= 140


def test_a_missing_corpus_is_said_so(tmp_path: Path) -> None:
    assert "not found at" in (payloads.corpus_missing(tmp_path / "nope") or "")
    assert "holds no" in (payloads.corpus_missing(tmp_path) or "")
    (tmp_path / "push.json").write_text("{}")
    assert payloads.corpus_missing(tmp_path) is None
    assert payloads.REPO_ROOT.parent / "shared" / "payload-corpus" / "github" == payloads.CORPUS


def test_wasted_writes_are_counted_on_the_wire_per_thread(synthetic: Any) -> None:
    from bench.contention import ConditionalFailures

    failures = ConditionalFailures()
    failures.attach()
    db = aws_clients.client("dynamodb")
    try:
        db.put_item(TableName=TABLE, Item=_item())
        for _ in range(2):
            with pytest.raises(db.exceptions.ConditionalCheckFailedException):
                db.put_item(TableName=TABLE, Item=_item(), ConditionExpression="attribute_not_exists(p)")
        elsewhere: list[int] = []
        helper = threading.Thread(target=lambda: elsewhere.append(failures.of_this_thread()))
        helper.start()
        helper.join()
    finally:
        failures.detach()
    with pytest.raises(db.exceptions.ConditionalCheckFailedException):  # after detach: not counted
        db.put_item(TableName=TABLE, Item=_item(), ConditionExpression="attribute_not_exists(p)")
    assert (failures.of_this_thread(), elsewhere) == (2, [0])
