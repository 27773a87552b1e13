"""moto inside the local stack's own process: each AWS call atomic, and every write observed.

The stack's boto3 clients are the handlers' own (shared/aws_clients.py), unchanged: moto's
mock_aws answers them from botocore's before-send hook instead of over HTTP. That saves, per call,
a socket round trip, werkzeug's request parsing and a thread hand-off (the embedded server cost
10-30 ms a call under load; in-process it is a fraction of that).

Atomicity stays exactly what the server gave: one lock (moto_lock.ATOMIC, the same object)
around moto's handling of each request, response body included, so two conditional writes can
never both pass their check. Requests that moto does not answer (the WebSocket management API at
127.0.0.1) go out over HTTP as before, outside the lock.

moto_speedups.py replaces moto's generic response serializer with json.dumps where the answer is
plain data, the largest share of moto's time per call; botocore_speedups.py parses the JSON answers
on the clients' side with less work, to the same dicts.

Requests to moto's DynamoDB, DynamoDB Streams, SQS and Scheduler are not signed: those backends
never check a signature, and moto reads the region from the endpoint's host and the account from
the access key, which with the stack's offline credentials is the default account, as without one.
SigV4 was a quarter of an in-process GetItem's CPU. Everything else (S3, whose moto backend treats
an unsigned request as anonymous; presigned URLs; requests over HTTP) is signed as before.

After each write the matching bell of local_stack/wakeups.py rings, so the event-source loops can
sleep instead of polling.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from local_stack import botocore_speedups, moto_speedups
from local_stack.moto_lock import ATOMIC
from local_stack.wakeups import Wakeups

_DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_SQS_MAKES_VISIBLE = {
    "SendMessage",
    "SendMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
}


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name) or ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _call_of(request: Any) -> tuple[str, str]:
    """(service, operation) of a botocore request: "dynamodb", "PutItem"; the operation is empty
    for REST services (scheduler), which carry it in the method and path."""
    service = (urlsplit(request.url).hostname or "").split(".", 1)[0]
    return service, _header(request, "X-Amz-Target").rpartition(".")[2]


# The services the stack calls per request and per loop, whose moto backends never look at a
# signature. Not S3: moto treats an unsigned S3 request as anonymous and answers 403.
_UNSIGNED_SERVICES = ("dynamodb", "streams.dynamodb", "sqs", "scheduler")
_UNSIGNED_HOSTS = tuple(f"{service}.us-east-1.amazonaws.com" for service in _UNSIGNED_SERVICES)


def _skip_signing_for_moto() -> None:
    from botocore.signers import RequestSigner

    if "_moto_sign" in vars(RequestSigner):
        return
    sign = RequestSigner.sign

    def signed_unless_for_moto(
        self: Any, operation_name: Any, request: Any, *args: Any, **kwargs: Any
    ) -> Any:
        signing_type = kwargs.get("signing_type", args[1] if len(args) > 1 else "standard")
        host = urlsplit(request.url).hostname or ""
        if signing_type == "standard" and host in _UNSIGNED_HOSTS:
            return None
        return sign(self, operation_name, request, *args, **kwargs)

    RequestSigner._moto_sign = sign  # type: ignore[attr-defined]
    RequestSigner.sign = signed_unless_for_moto  # type: ignore[method-assign]


def _sign_everything() -> None:
    from botocore.signers import RequestSigner

    original = vars(RequestSigner).get("_moto_sign")
    if original is not None:
        RequestSigner.sign = original  # type: ignore[method-assign]
        del RequestSigner._moto_sign


class InProcessMoto:
    def __init__(self, wakeups: Wakeups | None = None) -> None:
        self.wakeups = wakeups or Wakeups()
        self._mock: Any = None
        self._stubber: Any = None

    def start(self) -> InProcessMoto:
        from moto import mock_aws
        from moto.core.models import botocore_stubber

        self._mock = mock_aws()
        self._mock.start()
        moto_speedups.install()
        botocore_speedups.install()
        answer = type(botocore_stubber).process_request.__get__(botocore_stubber)

        def atomic(request: Any) -> Any:
            service, operation = _call_of(request)
            with ATOMIC:
                response = answer(request)
                if response is not None and service == "dynamodb":
                    moto_speedups.dynamodb_called(operation)
            if response is not None:
                self._observe(service, operation, request)
            return response

        # The instance attribute shadows the method both of moto's entry points call.
        botocore_stubber.process_request = atomic
        self._stubber = botocore_stubber
        _skip_signing_for_moto()
        self.wakeups.next_visible = self.next_visible
        return self

    def stop(self, keep_data: bool = True) -> None:
        _sign_everything()
        if self._stubber is not None:
            if "process_request" in vars(self._stubber):  # another InProcessMoto's stop took it off
                del self._stubber.process_request
            self._stubber = None
        moto_speedups.uninstall()
        botocore_speedups.uninstall()
        if self._mock is not None:
            # make dev keeps the data: dropping a busy session's tables takes seconds, and the next
            # start of a mock empties every backend anyway. Tests drop it, so that a moto server
            # started next in the same process (the race tests) does not find their tables.
            self._mock.stop(remove_data=not keep_data)
            self._mock = None

    def _observe(self, service: str, operation: str, request: Any) -> None:
        if service == "dynamodb" and operation in _DYNAMODB_WRITES:
            self.wakeups.table_written()
        elif service == "sqs" and operation in _SQS_MAKES_VISIBLE:
            try:
                queue_url = json.loads(request.body or b"{}").get("QueueUrl", "")
            except ValueError:
                return
            if queue_url:
                self.wakeups.queue(queue_url).ring()
        elif service == "scheduler" and request.method != "GET":
            self.wakeups.schedules.ring()

    def next_visible(self, queue_url: str) -> float | None:
        """Seconds until the queue's next delayed or in-flight message becomes receivable (0 when
        one already is), None when it holds none. Read from moto's state: SQS has no API for it."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        try:
            with ATOMIC:
                queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues.get(name)
                if queue is None:
                    return None
                moments = [max(m.visible_at, m.delayed_until) for m in queue._messages]
        except (AttributeError, KeyError):  # another moto version: fall back to plain polling
            return 0.1
        if not moments:
            return None
        return max(0.0, (min(moments) - time.time() * 1000) / 1000)
