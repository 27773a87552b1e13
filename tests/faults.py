"""Fault injection on AWS calls: throttling and 5xx on random DynamoDB and SQS calls.

`FaultInjector.install` wraps botocore's `BaseClient._make_api_call`, the one door every boto3
call of the service goes through (shared/plumbing/aws_clients.py makes the clients), so a chosen
share of calls fails with the error AWS would return once the client's own retries gave up
(botocore's standard mode makes 4 attempts; these stand for the 4th failing too). Each injected
fault is counted by service and kind for docs/reliability.md.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

# (error code, HTTP status) AWS answers with when it throttles or fails a call.
KINDS: dict[str, list[tuple[str, int]]] = {
    "dynamodb": [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalServerError", 500),
    ],
    "sqs": [
        ("RequestThrottled", 400),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
    ],
}


def aws_error(service: str, operation: str, code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "injected"},
        },
        operation,
    )


class FaultInjector:
    def __init__(self, seed: int, rate: float, services: tuple[str, ...] = ("dynamodb", "sqs")) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.services = services
        self.enabled = False
        self.injected: Counter[str] = Counter()  # "dynamodb:ThrottlingException" -> count
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def maybe_fail(self, service: str, operation: str) -> None:
        if not self.enabled or service not in self.services:
            return
        with self._lock:
            self.calls[service] += 1
            if self.rng.random() >= self.rate:
                return
            code, status = self.rng.choice(KINDS[service])
            self.injected[f"{service}:{code}"] += 1
        raise aws_error(service, operation, code, status)

    def install(self, monkeypatch: Any) -> None:
        original = BaseClient._make_api_call
        injector = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            injector.maybe_fail(client.meta.service_model.service_name, operation_name)
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", _make_api_call)

    @contextmanager
    def active(self) -> Iterator[None]:
        self.enabled = True
        try:
            yield
        finally:
            self.enabled = False

    def total(self) -> int:
        return sum(self.injected.values())
