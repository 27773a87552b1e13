"""The dispatch queues in `make dev`: what Lambda's SQS event source mappings do on AWS.

Two loops poll the embedded SQS. The dispatch queue's messages go, ten at a time, to the
dispatcher handler (functions/dispatcher/handler.py) as an SQS event; the records it reports in
batchItemFailures stay in the queue and come back after the visibility timeout, the others are
deleted, exactly as with ReportBatchItemFailures. The Lambda-worker queue's messages go one at a
time to the invoker (functions/dispatcher/lambda_invoker.py) on a small pool of threads, with the
registered Python callables (local_stack/lambda_workers.py) standing in for Lambda functions.

The polls never long-poll: moto serializes requests under one lock (embedded_moto.py), and a 20 s
receive would hold every other AWS call of the stack for that long. Instead an idle loop sleeps on
its queue's bell (wakeups.py): a send to the queue, or the moment its next delayed or in-flight
message becomes visible, wakes it. Without bells (tests that drive a loop alone) it polls.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from local_stack.wakeups import Wakeups
from shared.plumbing import aws_clients

logger = logging.getLogger("spooled.local")

SqsEvent = dict[str, Any]
BatchHandler = Callable[[SqsEvent], dict[str, Any]]


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> SqsEvent:
    """The event Lambda builds from received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class QueuePoller:
    """Receive → handler → delete what did not fail, for one queue."""

    def __init__(self, queue_url: str, handle: BatchHandler, batch_size: int = 10) -> None:
        self.queue_url = queue_url
        self.handle = handle
        self.batch_size = batch_size
        self._arn: str | None = None

    @property
    def _sqs(self) -> Any:
        return aws_clients.client("sqs")

    def _queue_arn(self) -> str:
        if self._arn is None:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._arn = str(attributes["Attributes"]["QueueArn"])
        return self._arn

    def receive(self, limit: int | None = None) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(limit or self.batch_size, self.batch_size),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def deliver(self, messages: list[dict[str, Any]]) -> int:
        """Hand `messages` to the handler as one event; returns how many succeeded (and were deleted)."""
        if not messages:
            return 0
        try:
            result = self.handle(sqs_event(self._queue_arn(), messages))
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:
            # A handler that raises fails the whole batch, as on AWS: every message comes back.
            logger.exception("handler failed on a batch from %s", self.queue_url)
            return 0
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(done)

    def poll_once(self) -> int:
        return self.deliver(self.receive())

    def run_until(
        self, stop: threading.Event, interval: float, name: str, wakeups: Wakeups | None = None
    ) -> None:
        """Poll back to back while messages come; when idle, sleep on the queue's bell, or without
        bells poll every `interval` seconds (an idle poll is a moto call under moto's lock)."""
        while not stop.is_set():
            try:
                busy = self.poll_once() > 0
            except Exception:  # retried next tick, as the event source mapping would
                logger.exception("%s poll failed", name)
                stop.wait(interval)
                continue
            if busy:
                continue
            if wakeups is None:
                stop.wait(interval)
            else:
                wakeups.wait_for_queue(self.queue_url)


class DispatchLoops:
    def __init__(
        self,
        stop: threading.Event,
        interval: float = 0.1,
        invoker_interval: float = 0.25,
        invoker_threads: int = 8,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.stop = stop
        self.wakeups = wakeups
        self.interval = interval  # timer messages: the poll adds at most this to their lateness
        self.invoker_interval = invoker_interval  # an idle poll is a moto call under the global lock
        self.invoker_threads = invoker_threads

    def run_timers(self) -> None:
        from functions.dispatcher.handler import handler
        from shared.plumbing.config import settings

        QueuePoller(settings().dispatch_queue_url, handler).run_until(
            self.stop, self.interval, "dispatch queue", self.wakeups
        )

    def run_invocations(self) -> None:
        from functions.dispatcher import lambda_invoker
        from local_stack.lambda_workers import LocalFunctions
        from shared.plumbing.config import settings

        functions = LocalFunctions()

        def invoke(event: SqsEvent) -> dict[str, Any]:
            return lambda_invoker.handle(event, None, lambda_invoker.lambda_workers(), functions)

        poller = QueuePoller(settings().lambda_worker_queue_url, invoke, batch_size=1)
        work: queue.Queue[dict[str, Any] | None] = queue.Queue()
        idle = threading.Semaphore(self.invoker_threads)

        def run() -> None:
            while (message := work.get()) is not None:
                try:
                    poller.deliver([message])
                finally:
                    idle.release()

        threads = [
            threading.Thread(target=run, name=f"lambda-worker-{i}", daemon=True)
            for i in range(self.invoker_threads)
        ]
        for thread in threads:
            thread.start()
        while not self.stop.is_set():
            if not idle.acquire(timeout=self.invoker_interval):
                continue  # every invoker busy: leave the messages in the queue meanwhile
            try:
                messages = poller.receive(limit=1)
            except Exception:
                logger.exception("Lambda-worker queue poll failed")
                messages = []
            if messages:
                work.put(messages[0])
            else:
                idle.release()
                if self.wakeups is None:
                    self.stop.wait(self.invoker_interval)
                else:
                    self.wakeups.wait_for_queue(poller.queue_url)
        for _ in threads:
            work.put(None)
