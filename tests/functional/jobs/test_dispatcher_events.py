"""The dispatcher Lambda's three event sources, against moto's SQS and the table's stream.

Here the timer queue is the real one (SQS in moto, via SqsSender), and messages travel through
local_stack/dispatch_loop.py's QueuePoller: the same receive → handler → delete-what-succeeded
cycle the event source mapping runs with ReportBatchItemFailures.
"""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.dispatch_loop import QueuePoller
from shared.plumbing.timer_queue import FarTimer, Wake
from tests.functional import timers_harness as h


def _sqs() -> Any:
    from shared.plumbing import aws_clients

    return aws_clients.client("sqs")


def _dispatch_url() -> str:
    from shared.plumbing.config import settings

    return settings().dispatch_queue_url


def _queue_counts() -> tuple[int, int, int]:
    attributes = _sqs().get_queue_attributes(QueueUrl=_dispatch_url(), AttributeNames=["All"])["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


@pytest.fixture
def poller(api: Any) -> QueuePoller:
    from functions.dispatcher.handler import handler

    return QueuePoller(_dispatch_url(), handler)


def test_the_stream_arms_delayed_messages_on_sqs(api: Any, clock: Any, drain_stream: Any) -> None:
    h.create(api, queue_name="armed", scheduled_at=h.iso(clock.now_ms() + 120_000))
    h.create(api, queue_name="armed", scheduled_at=h.iso(clock.now_ms() + 7 * 86_400_000))
    drain_stream()
    assert _queue_counts() == (0, 2, 0)  # a wake in 120 s, the first hop of a far timer in 900 s


def test_a_bad_record_fails_alone_and_stays_in_the_queue(api: Any, clock: Any, poller: QueuePoller) -> None:
    job_id = h.create(api, queue_name="batch", scheduled_at=h.iso(clock.now_ms() + 2_000))
    org_id = h.job(api, job_id)["organization_id"]
    _sqs().send_message(
        QueueUrl=_dispatch_url(), MessageBody=Wake(org_id, "batch", clock.now_ms() + 2_000).to_json()
    )
    _sqs().send_message(QueueUrl=_dispatch_url(), MessageBody='{"kind": "no-such-kind"}')
    clock.advance(2)
    messages = poller.receive()
    assert len(messages) == 2

    assert poller.deliver(messages) == 1  # the wake succeeded and was deleted
    assert h.job(api, job_id)["status"] == "pending"
    assert _queue_counts() == (0, 0, 1)  # the bad one waits out its visibility timeout, then retries


def test_the_handler_reports_partial_failures_by_message_id(api: Any, clock: Any) -> None:
    from functions.dispatcher.handler import handler

    event = h.sqs_event([Wake("o", "q", clock.now_ms()).to_json(), "{}", "not json"])
    result = handler(event)
    failed = {failure["itemIdentifier"] for failure in result["batchItemFailures"]}
    assert failed == {record["messageId"] for record in event["Records"][1:]}


def test_a_far_hop_delivered_through_sqs_sends_the_next_hop_once(
    api: Any, clock: Any, poller: QueuePoller
) -> None:
    from shared.plumbing.table_keys import timer_sk

    due = clock.now_ms() + 5 * 86_400_000
    job_id = h.create(api, queue_name="far", scheduled_at=h.iso(due))
    org_id = h.job(api, job_id)["organization_id"]
    hop = FarTimer(org_id, "far", job_id, timer_sk(due, job_id), hop=3)
    for _ in range(2):  # the same hop delivered twice
        _sqs().send_message(QueueUrl=_dispatch_url(), MessageBody=hop.to_json())
    assert poller.poll_once() == 2
    assert _queue_counts() == (0, 1, 0)  # one hop 4, not two


def test_the_sweep_event(api: Any, clock: Any, drain_stream: Any) -> None:
    from functions.dispatcher.handler import handler

    job_id = h.create(api, queue_name="swept", scheduled_at=h.iso(clock.now_ms() + 1_000))
    drain_stream()  # the queue registry the sweep walks is kept from the stream
    clock.advance(2)
    result = handler({"sweep": True})
    assert result["moved"] == 1 and result["workers_offline"] == 0 and result["lambda_jobs_started"] == 0
    assert h.job(api, job_id)["status"] == "pending"


def test_stream_records_through_the_handler_update_counters_and_arm_timers(
    api: Any, clock: Any, drain_stream: Any
) -> None:
    from functions.dispatcher.handler import handler
    from local_stack.stream_poller import StreamPoller
    from shared.plumbing.config import settings

    drain_stream()
    h.create(api, queue_name="streamed", scheduled_at=h.iso(clock.now_ms() + 60_000))
    batches: list[list[dict[str, Any]]] = []
    StreamPoller(settings().table_name, batches.append).poll_once()
    for batch in batches:
        assert handler({"Records": batch}) == {"batchItemFailures": []}
    assert api.get("/api/v1/jobs/stats", params={"queue_name": "streamed"}).json["scheduled"] == 1
    assert _queue_counts()[1] == 1


def test_the_stream_keeps_flowing_after_a_cancelled_transaction(
    api: Any, clock: Any, drain_stream: Any
) -> None:
    """moto cancels a transaction (an idempotency-key race, say) by putting back a copy of the
    table; the local stream poller must follow the copy, or timers and counters would stop for
    the rest of a `make dev` run."""
    from botocore.exceptions import ClientError

    from shared.jobs import expressions as ex
    from shared.plumbing import aws_clients
    from shared.plumbing.config import settings

    job_id = h.create(api, queue_name="before")
    drain_stream()  # the poller's iterators exist from here on
    with pytest.raises(ClientError, match="TransactionCanceled"):
        aws_clients.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": settings().table_name,
                        "Key": ex.job_key(h.job(api, job_id)["organization_id"], job_id),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )
    h.create(api, queue_name="after", scheduled_at=h.iso(clock.now_ms() + 60_000))
    assert drain_stream() > 0
    assert _queue_counts()[1] == 1  # the delayed job's wake was armed


def test_one_failing_queue_does_not_stop_the_sweep_for_the_others(
    api: Any, clock: Any, drain_stream: Any, monkeypatch: Any
) -> None:
    """Issue 12, finding 9: the first queue whose timers raised aborted the sweep for every later one."""
    from functions.dispatcher.handler import handler
    from shared.jobs import timers as job_timers

    broken = h.create(api, queue_name="a-broken", scheduled_at=h.iso(clock.now_ms() + 1_000))
    clock.advance(0.01)
    healthy = h.create(api, queue_name="b-healthy", scheduled_at=h.iso(clock.now_ms() + 1_000))
    drain_stream()
    clock.advance(2)
    real = job_timers.act_on_due_timers

    def flaky(store: Any, org_id: str, queue: str, *args: Any, **kwargs: Any) -> int:
        if queue == "a-broken":
            raise RuntimeError("throttled")
        return real(store, org_id, queue, *args, **kwargs)

    monkeypatch.setattr(job_timers, "act_on_due_timers", flaky)
    with pytest.raises(RuntimeError, match="timers:a-broken"):
        handler({"sweep": True})  # reported, for the alarm
    assert h.job(api, healthy)["status"] == "pending"
    assert h.job(api, broken)["status"] == "scheduled"
