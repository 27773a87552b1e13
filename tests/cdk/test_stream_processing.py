"""The dispatcher's stream mapping: partial batch responses, no bisection, bounded retries, the
failure queue, and the filter that keeps the dispatcher's own writes away from it (issue 16), all
from shared/plumbing/schema.py, which local_stack/stream_poller.py applies the same way."""

from __future__ import annotations

import json
from typing import Any

import boto3
from moto import mock_aws

from local_stack.resources import create_all
from local_stack.stream_poller import passes
from shared.plumbing import schema
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import mappings_of


def _dispatcher_stream(synthesized: Synthesized) -> dict[str, Any]:
    dispatcher, _ = synthesized.by_path("Dispatcher/Function/Resource")
    return mappings_of(synthesized, dispatcher)["JobsTable.StreamArn"]


def _record(pk: str, sk: str) -> dict[str, Any]:
    return {"eventSource": "aws:dynamodb", "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}}}


SAMPLES = {
    ("JOB#o#3", "0190e2a4-1c2d-7abc-8d03-0123456789ab"): True,  # a job item: JOB#{org}#{shard} / {id}
    ("WORKER#o#w", "WORKER"): True,
    ("SCHEDULE#o#s", "SCHEDULE"): True,
    ("SCHEDULE#o#s", "RUN#000000000000001#r"): True,
    ("WORKFLOW#o#w", "WORKFLOW"): True,
    ("ORG#o", "QUEUE#emails"): True,
    ("QSTAT#o#emails", "QSTAT"): False,  # the counters it writes
    ("QSTAT#o#emails", "ACT#H#0000000000"): False,  # the activity buckets it writes
    ("ORG#o", "QREG#emails"): False,  # the queue registry
    ("SMARK#o#emails", "0" * 40): False,  # its stream marks
    ("LAMBDA#o#emails", "SLOTS"): False,  # the Lambda-worker slots it takes and frees
    ("LIVE#o", "CONN#c"): False,  # the live-updates connections
    ("OUTHOOK#o#h", "DELIVERY#1#d"): False,
}


def test_the_stream_mapping_reports_partial_failures_retries_whole_and_gives_up_to_the_failure_queue(
    synthesized: Synthesized,
) -> None:
    stream = _dispatcher_stream(synthesized)
    failures, _ = synthesized.by_path("StreamFailureQueue/Resource")
    assert failures == schema.STREAM_FAILURE_QUEUE.logical_id
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # A crash or timeout retries the batch from its first record, whose stream marks say what was
    # applied: a bisected second half would start at a record no mark is kept for.
    assert stream["BisectBatchOnFunctionError"] is False
    assert stream["MaximumRetryAttempts"] == schema.DISPATCHER_STREAM.retry_attempts
    assert stream["BatchSize"] == schema.DISPATCHER_STREAM.batch_size
    assert stream["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failures, "Arn"]}}}


def test_the_stream_mapping_is_filtered_to_what_the_dispatcher_handles(synthesized: Synthesized) -> None:
    patterns = [
        json.loads(f["Pattern"]) for f in _dispatcher_stream(synthesized)["FilterCriteria"]["Filters"]
    ]
    assert patterns == [
        {
            "dynamodb": {
                "Keys": {"pk": {"S": [{"prefix": p} for p in ("JOB#", "WORKER#", "SCHEDULE#", "WORKFLOW#")]}}
            }
        },
        {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "ORG#"}]}, "sk": {"S": [{"prefix": "QUEUE#"}]}}}},
    ]
    # The local poller, given the template's patterns or the schema's, lets the same records through.
    for (pk, sk), wanted in SAMPLES.items():
        record = _record(pk, sk)
        assert passes(patterns, record) is wanted, (pk, sk)
        assert passes(schema.DISPATCHER_STREAM.filters, record) is wanted, (pk, sk)


def test_the_failure_queue_agrees_with_the_local_stack(synthesized: Synthesized) -> None:
    deployed = synthesized.resources[schema.STREAM_FAILURE_QUEUE.logical_id]["Properties"]
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        create_all(session)
        sqs = session.client("sqs")
        url = sqs.get_queue_url(QueueName=schema.STREAM_FAILURE_QUEUE.local_name)["QueueUrl"]
        local = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])[
            "Attributes"
        ]
    assert int(local["MessageRetentionPeriod"]) == deployed["MessageRetentionPeriod"]


LIVE_SAMPLES = {
    ("JOB#o#3", "0190e2a4-1c2d-7abc-8d03-0123456789ab"): True,  # a job item: JOB#{org}#{shard} / {id}
    ("WORKER#o#w", "WORKER"): True,
    ("WORKFLOW#o#w", "WORKFLOW"): True,
    ("SCHEDULE#o#s", "RUN#000000000000001#r"): True,
    ("ORG#o", "QUEUE#emails"): True,
    ("QSTAT#o#emails", "QSTAT"): True,  # QueueStats frames
    ("APIKEY#k", "APIKEY"): True,  # a revoked key closes its sockets
    ("RFAM#f", "RFAM"): True,  # a revoked login closes its sockets
    ("LIVE#o", "CONN#c"): False,  # the connections it writes
    ("LIVECONN#c", "LIVECONN"): False,
    ("QSTAT#o#emails", "ACT#H#0000000000"): False,  # the activity buckets beside the counters
    ("ORG#o", "QREG#emails"): False,
    ("SMARK#o#emails", "0" * 40): False,
    ("LAMBDA#o#emails", "SLOTS"): False,
}


def test_the_live_updates_mapping_is_filtered_to_what_live_updates_handle(synthesized: Synthesized) -> None:
    live, _ = synthesized.by_path("LiveUpdates/Function/Resource")
    stream = mappings_of(synthesized, live)["JobsTable.StreamArn"]
    patterns = [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]]
    assert patterns == list(schema.LIVE_STREAM.filters)
    for (pk, sk), wanted in LIVE_SAMPLES.items():
        assert passes(patterns, _record(pk, sk)) is wanted, (pk, sk)
