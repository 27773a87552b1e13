"""The local stack's in-process moto (local_stack/inprocess_moto.py): each call atomic as with the
embedded server, and the writes the event-source loops sleep on ring their bells."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.inprocess_moto import InProcessMoto
from local_stack.wakeups import Wakeups
from tests.conftest import SHARED_MOCK

THREADS = 16
ATTEMPTS_PER_THREAD = 40


@pytest.fixture
def moto() -> Iterator[InProcessMoto]:
    SHARED_MOCK.stop()  # this test's mock must be the only one, and start empty
    moto = InProcessMoto(Wakeups()).start()
    try:
        yield moto
    finally:
        moto.stop(keep_data=False)


def _client(service: str) -> Any:
    import boto3

    return boto3.session.Session().client(service)


def test_conditional_writes_from_racing_threads_never_both_pass(moto: InProcessMoto) -> None:
    dynamodb = _client("dynamodb")
    dynamodb.create_table(
        TableName="counter",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb.put_item(TableName="counter", Item={"pk": {"S": "c"}, "version": {"N": "0"}})
    wins = [0] * THREADS
    start = threading.Barrier(THREADS)

    def race(index: int) -> None:
        start.wait()
        for _ in range(ATTEMPTS_PER_THREAD):
            item = dynamodb.get_item(TableName="counter", Key={"pk": {"S": "c"}})["Item"]
            seen = item["version"]["N"]
            try:
                dynamodb.update_item(
                    TableName="counter",
                    Key={"pk": {"S": "c"}},
                    UpdateExpression="SET version = :next",
                    ConditionExpression="version = :seen",
                    ExpressionAttributeValues={":seen": {"N": seen}, ":next": {"N": str(int(seen) + 1)}},
                )
            except dynamodb.exceptions.ConditionalCheckFailedException:
                continue  # lost the race: someone else moved the version first
            wins[index] += 1

    threads = [threading.Thread(target=race, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = int(dynamodb.get_item(TableName="counter", Key={"pk": {"S": "c"}})["Item"]["version"]["N"])
    # Each win moved the version by one from the value it saw: two winners on one value would
    # leave the final version below the number of wins.
    assert final == sum(wins)
    assert sum(wins) < THREADS * ATTEMPTS_PER_THREAD  # the threads did race


def test_a_send_rings_its_queue_and_a_delayed_message_says_when_it_shows(moto: InProcessMoto) -> None:
    sqs = _client("sqs")
    url = sqs.create_queue(QueueName="bells")["QueueUrl"]
    other = moto.wakeups.queue("other")
    assert moto.next_visible(url) is None
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=30)
    assert moto.wakeups.queue(url).wait(0) is True
    assert other.wait(0) is False
    assert 29 < (moto.next_visible(url) or 0) <= 30


def test_a_table_write_rings_the_table_bell_and_a_read_does_not(moto: InProcessMoto) -> None:
    dynamodb = _client("dynamodb")
    dynamodb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    moto.wakeups.table.wait(0)
    dynamodb.get_item(TableName="t", Key={"pk": {"S": "x"}})
    assert moto.wakeups.table.wait(0) is False
    writes = moto.wakeups.writes
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "x"}})
    assert moto.wakeups.table.wait(0) is True
    assert moto.wakeups.writes == writes + 1


def test_a_queue_waiter_sleeps_until_the_send(moto: InProcessMoto) -> None:
    sqs = _client("sqs")
    url = sqs.create_queue(QueueName="sleeper")["QueueUrl"]
    woke: list[float] = []

    def wait() -> None:
        moto.wakeups.wait_for_queue(url, limit=5.0)
        woke.append(time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)
    sent = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="now")
    waiter.join(timeout=5)
    assert woke and woke[0] - sent < 4.0  # woken by the send, long before the 5 s limit


def test_requests_moto_answers_go_unsigned_and_everything_else_is_signed(moto: InProcessMoto) -> None:
    """SigV4 is skipped only for the services whose moto backends never check it; S3, a request
    over HTTP to another address and a presigned URL are signed as before; stop() signs everything
    again."""
    from botocore.awsrequest import AWSRequest

    dynamodb = _client("dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}}).get("Item") is None

    def signed(client: Any, url: str) -> bool:
        request = AWSRequest(method="POST", url=url, data=b"{}", headers={})
        client._request_signer.sign("GetItem", request)
        return "Authorization" in request.headers

    assert not signed(dynamodb, "https://dynamodb.us-east-1.amazonaws.com/")
    assert not signed(dynamodb, "https://sqs.us-east-1.amazonaws.com/")
    assert signed(dynamodb, "https://s3.amazonaws.com/bucket/key")  # moto's S3 checks who asks
    assert signed(dynamodb, "http://127.0.0.1:9/@connections/abc")
    presigned = _client("s3").generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert "Signature=" in presigned
    moto.stop(keep_data=False)
    assert signed(dynamodb, "https://dynamodb.us-east-1.amazonaws.com/")


def _create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_remembered_urls_answer_from_the_backends_a_reset_put_in_place(
    moto: InProcessMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MotoRoutes remembers the URL match, never the backend: after moto's reset replaces the
    backends, the same remembered route answers from the new ones."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BackendDict
    from moto.dynamodb.models import dynamodb_backends

    assert moto.routes is not None
    dynamodb = _client("dynamodb")
    _create_table(dynamodb)
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}})
    assert ("https://dynamodb.us-east-1.amazonaws.com/", False) in moto.routes._routes

    def not_moto(request: Any) -> Any:
        raise AssertionError(f"{request.url} went through moto's own URL match")

    monkeypatch.setattr(moto.routes, "_moto", not_moto)
    BackendDict.reset()
    assert dynamodb.list_tables()["TableNames"] == []
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    _create_table(dynamodb)
    assert "Item" not in dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "b"}})
    assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "b"}})["Item"] == {"pk": {"S": "b"}}
    # All of it in the backend moto itself has now, not in the one the reset emptied.
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables["t"]
    assert [item.to_json()["Attributes"] for item in table.all_items()] == [{"pk": {"S": "b"}}]


def test_remembered_urls_answer_what_motos_url_match_answers(
    moto: InProcessMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads to each kind of URL (answers and errors), each answered by MotoRoutes and by moto's own
    process_request: the same status, headers and body, bar the request id and date."""
    from botocore.awsrequest import AWSPreparedRequest

    from local_stack.moto_lock import ATOMIC

    assert moto.routes is not None
    routes = moto.routes
    compared: list[str] = []
    mismatches: list[str] = []

    def comparable(answer: Any) -> Any:
        if answer is None:
            return None
        status, headers, body = answer
        ignored = {"x-amzn-requestid", "x-amz-request-id", "date", "x-amz-crc32", "x-amz-id-2"}
        headers = {name: value for name, value in headers.items() if name.lower() not in ignored}
        body = body.decode() if isinstance(body, bytes) else body
        return status, headers, re.sub("<RequestId>[^<]*</RequestId>", "", body)

    def both(request: Any) -> Any:
        with ATOMIC:
            mine = routes(request)
            motos = routes._moto(request)
        compared.append(request.url)
        if comparable(mine) != comparable(motos):
            mismatches.append(f"{request.url}: {comparable(mine)} != {comparable(motos)}")
        return mine

    dynamodb = _client("dynamodb")
    _create_table(dynamodb)
    dynamodb.update_time_to_live(
        TableName="t", TimeToLiveSpecification={"Enabled": True, "AttributeName": "x"}
    )
    sqs = _client("sqs")
    queue_url = sqs.create_queue(QueueName="q")["QueueUrl"]
    s3 = _client("s3")
    s3.create_bucket(Bucket="routes-bucket")
    scheduler = _client("scheduler")
    monkeypatch.setattr(moto._stubber, "process_request", both)

    dynamodb.describe_table(TableName="t")
    dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.describe_table(TableName="missing")
    streams = _client("dynamodbstreams")
    streams.list_streams()
    sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="missing")
    scheduler.list_schedules()
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name="missing")
    s3.list_objects_v2(Bucket="routes-bucket")  # S3's backend builds its own URL table: moto's way
    for url in (
        f"{queue_url}",  # the query protocol's queue URL
        "https://nothing.us-east-1.amazonaws.com/",  # no service: moto's 404
        "http://127.0.0.1:9/@connections/abc",  # not moto's
    ):
        request = AWSPreparedRequest(
            "POST",
            url,
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=GetQueueAttributes",
            False,
        )
        both(request)
    assert not mismatches, "\n".join(mismatches)
    assert len(compared) == 12, compared
    assert routes._routes[("http://127.0.0.1:9/@connections/abc", False)] is None
    assert routes._routes[(queue_url, False)] is not None


def test_remembered_urls_are_forgotten_past_a_limit(
    moto: InProcessMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each S3 key is a URL of its own: the routes kept stay bounded, and answers stay right."""
    from local_stack import inprocess_moto

    assert moto.routes is not None
    monkeypatch.setattr(inprocess_moto, "ROUTES_KEPT", 3)
    s3 = _client("s3")
    s3.create_bucket(Bucket="routes-bucket")
    for i in range(8):
        s3.put_object(Bucket="routes-bucket", Key=f"k{i}", Body=f"body {i}".encode())
        assert len(moto.routes._routes) <= 3
    assert [s3.get_object(Bucket="routes-bucket", Key=f"k{i}")["Body"].read() for i in (0, 7)] == [
        b"body 0",
        b"body 7",
    ]
