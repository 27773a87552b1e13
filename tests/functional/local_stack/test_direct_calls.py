"""local_stack/direct_calls.py hands DynamoDB, DynamoDB Streams and SQS calls to the in-process moto
without botocore's endpoint (what `make dev` runs); inprocess_moto.MotoRoutes remembers moto's URL
match. Both must give every call exactly what the usual way gives.

The job's life of stack_setup (and a few calls that fail in other ways: a cancelled transaction, a
validation error, an SQS error, SQS sends and receives) runs with direct calls on, each call
recorded with the request moto got, moto's raw answer, and what the caller got: the answer dict or
the exception. Then each call is made again the usual way on the same client, with the recorded raw
answer in place of moto's: moto must have got the same request (bar the headers of botocore's
request-created handlers, which moto never reads) and the caller the same dict, or the same
exception class with the same response. Together: same request to moto, so the same raw answer for
the same state; same raw answer, so the same outcome.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore import xform_name
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_stack import direct_calls
from local_stack.inprocess_moto import InProcessMoto
from tests.conftest import SHARED_MOCK
from tests.functional.local_stack.stack_setup import inprocess_stack, job_life, leaf_types

# What botocore's request-created handlers add or rewrite, which the direct path does not emit.
_REQUEST_CREATED_HEADERS = {"amz-sdk-invocation-id", "amz-sdk-request", "user-agent"}
_DIRECT_SERVICES = {"dynamodb", "dynamodbstreams", "sqs"}


@dataclass
class Call:
    client: Any
    operation: str
    params: dict[str, Any] = field(default_factory=dict)
    exchanges: list[tuple[Any, Any]] = field(default_factory=list)  # (request, moto's answer)
    result: Any = None
    error: BaseException | None = None


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.current = threading.local()
        self.orphans = 0
        self.original_make_api_call = BaseClient._make_api_call

    def make_api_call(self, original: Any) -> Any:
        recorder = self

        def recorded(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            call = Call(client, operation_name)
            recorder.current.call = call
            try:
                call.result = original(client, operation_name, api_params)
                return call.result
            except Exception as error:
                call.error = error
                raise
            finally:
                recorder.current.call = None
                # After the call: botocore's parameter handlers fill in what they generate (a
                # transaction's ClientRequestToken), and the replay must send the same.
                call.params = copy.deepcopy(api_params)
                recorder.calls.append(call)

        return recorded

    def answer(self, original: Any) -> Any:
        def recorded(request: Any) -> Any:
            response = original(request)
            call = getattr(self.current, "call", None)
            if call is None:
                self.orphans += 1
            else:
                call.exchanges.append((request, response))
            return response

        return recorded


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()

    def patch() -> None:
        assert direct_calls._answer is not None
        monkeypatch.setattr(direct_calls, "_answer", recorder.answer(direct_calls._answer))
        monkeypatch.setattr(BaseClient, "_make_api_call", recorder.make_api_call(BaseClient._make_api_call))

    with inprocess_stack(monkeypatch, patch, direct_calls=True):
        yield recorder
    assert direct_calls._answer is None  # stop() takes the direct path away


def _other_failures() -> None:
    """Calls that fail in ways the job's life does not, and SQS round trips."""
    import boto3

    from shared.plumbing.config import settings

    session = boto3.session.Session()
    dynamodb = session.client("dynamodb")
    table = settings().table_name
    key = {"pk": {"S": "DIRECT"}, "sk": {"S": "1"}}
    dynamodb.put_item(TableName=table, Item={**key, "n": {"N": "1"}})
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key,
                        "UpdateExpression": "SET n = n + :one",
                        "ConditionExpression": "n = :zero",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Put": {"TableName": table, "Item": {"pk": {"S": "DIRECT"}, "sk": {"S": "2"}}}},
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert cancelled.value.response["CancellationReasons"][0]["Item"] == {**key, "n": {"N": "1"}}
    with pytest.raises(ClientError) as invalid:
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET = nonsense")
    assert invalid.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.get_item(TableName="no-such-table", Key=key)

    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName="direct-calls")["QueueUrl"]
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody="é",
        MessageAttributes={"a": {"DataType": "String", "StringValue": "b"}},
    )
    received = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"], AttributeNames=["All"])
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=received["Messages"][0]["ReceiptHandle"])
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="no-such-queue")


def _replay(
    call: Call, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], Any, BaseException | None]:
    """The call made again the usual way, on the same client, moto's recorded answers given back in
    turn from the stubber's before-send hook: (requests moto would have got, result, error)."""
    from moto.core.models import botocore_stubber

    answers = [answer for _, answer in call.exchanges]
    requests: list[Any] = []

    def recorded_answer(request: Any) -> Any:
        requests.append(request)
        return answers.pop(0)

    with monkeypatch.context() as patched:
        patched.setattr(direct_calls, "_answer", None)
        patched.setattr(botocore_stubber, "process_request", recorded_answer)
        patched.setattr(BaseClient, "_make_api_call", recorder.original_make_api_call)
        try:
            result = getattr(call.client, xform_name(call.operation))(**copy.deepcopy(call.params))
        except Exception as error:
            return requests, None, error
    assert not answers
    return requests, result, None


def _headers(request: Any) -> dict[str, Any]:
    return {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower() not in _REQUEST_CREATED_HEADERS
    }




def test_direct_calls_get_what_the_usual_way_gets(
    recorded: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_life()
    _other_failures()

    assert recorded.orphans == 0
    direct = Counter[str]()
    mismatches: list[str] = []
    for call in recorded.calls:
        service = call.client.meta.service_model.service_name.replace("-", "")
        if not call.exchanges:
            assert service not in _DIRECT_SERVICES, (call.operation, type(call.client).__mro__, call.params)
            continue
        assert isinstance(call.client, direct_calls.DirectCalls)
        direct[call.operation] += 1
        requests, result, error = _replay(call, recorded, monkeypatch)
        name = f"{service}.{call.operation}"
        for (sent, _), again in zip(call.exchanges, requests, strict=True):
            for attribute in ("method", "url", "body", "stream_output"):
                if getattr(sent, attribute) != getattr(again, attribute):
                    mismatches.append(f"{name}: request {attribute} {getattr(sent, attribute)!r:.300}")
            if _headers(sent) != _headers(again):
                mismatches.append(f"{name}: request headers {_headers(sent)} != {_headers(again)}")
        if call.error is not None or error is not None:
            if type(call.error) is not type(error) or str(call.error) != str(error):
                mismatches.append(f"{name}: {error!r} != {call.error!r}")
            elif getattr(call.error, "response", None) != getattr(error, "response", None):
                mismatches.append(f"{name}: {error.response!r:.600} != {call.error.response!r:.600}")  # type: ignore[union-attr]
            elif leaf_types(getattr(call.error, "response", None)) != leaf_types(
                getattr(error, "response", None)
            ):
                mismatches.append(f"{name}: error response types differ")
        elif result != call.result or leaf_types(result) != leaf_types(call.result):
            mismatches.append(f"{name}: {result!r:.600} != {call.result!r:.600}")
    assert not mismatches, "\n".join(mismatches[:5])

    for operation in (
        "PutItem",
        "GetItem",
        "UpdateItem",
        "Query",
        "TransactWriteItems",
        "BatchWriteItem",
        "GetRecords",
        "GetShardIterator",
        "SendMessage",
        "ReceiveMessage",
        "GetQueueUrl",
    ):
        assert direct[operation] > 0, (operation, direct)
    errors = {type(call.error).__name__ for call in recorded.calls if call.exchanges and call.error}
    assert {
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
        "ClientError",  # ValidationException: no class of its own
        "ResourceNotFoundException",
        "QueueDoesNotExist",
    } <= errors, errors


def test_a_retried_answer_is_retried_the_usual_way(
    recorded: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 500 on the first attempt: the direct path hands the retry to botocore's endpoint (before-send,
    the stubber, the lock), and the caller sees what the usual way gives, RetryAttempts 1."""
    import boto3
    from moto.core.models import botocore_stubber

    failed = []

    def failing(request: Any) -> Any:
        failed.append(request)
        return 500, {"x-amzn-requestid": "r"}, '{"__type":"InternalServerError","message":"boom"}'

    # The first attempt gets the 500 from the direct path, the retry its answer from the stubber.
    monkeypatch.setattr(direct_calls, "_answer", recorded.answer(failing))
    stubbed = botocore_stubber.process_request
    monkeypatch.setattr(botocore_stubber, "process_request", recorded.answer(stubbed))
    dynamodb = boto3.session.Session().client("dynamodb")
    tables = dynamodb.list_tables()
    assert len(failed) == 1 and tables["ResponseMetadata"]["RetryAttempts"] == 1 and tables["TableNames"]
    (call,) = [call for call in recorded.calls if call.operation == "ListTables"]
    assert len(call.exchanges) == 2
    _, result, error = _replay(call, recorded, monkeypatch)
    assert error is None and result == call.result


def test_a_client_with_a_send_hook_of_its_own_goes_the_usual_way(recorded: Recorder) -> None:
    import boto3

    dynamodb = boto3.session.Session().client("dynamodb")
    dynamodb.list_tables()
    sent: list[Any] = []

    def count(request: Any, **kwargs: Any) -> None:
        sent.append(request)

    dynamodb.meta.events.register("before-send.dynamodb", count)
    dynamodb.list_tables()
    dynamodb.meta.events.unregister("before-send.dynamodb", count)
    dynamodb.list_tables()
    first, second, third = [call for call in recorded.calls if call.operation == "ListTables"]
    assert first.exchanges and not second.exchanges and third.exchanges and len(sent) == 1


def test_only_an_in_process_moto_asked_for_it_calls_directly() -> None:
    import boto3

    SHARED_MOCK.stop()
    moto = InProcessMoto().start()
    try:
        assert not isinstance(boto3.session.Session().client("dynamodb"), direct_calls.DirectCalls)
    finally:
        moto.stop(keep_data=False)
    moto = InProcessMoto(direct_calls=True).start()
    try:
        assert isinstance(boto3.session.Session().client("dynamodb"), direct_calls.DirectCalls)
        assert not isinstance(boto3.session.Session().client("s3"), direct_calls.DirectCalls)
    finally:
        moto.stop(keep_data=False)
    assert not isinstance(boto3.session.Session().client("dynamodb"), direct_calls.DirectCalls)
