"""Dollars per million jobs from what one job lifecycle was measured to use.

Lambda duration is modelled, not taken raw: the handler's own time measured here (moto's time taken
out) is stretched by the CPU share Lambda gives the configured memory, and each AWS call adds a
typical in-region latency in place of moto's. Both assumptions are named below; the raw,
moto-inclusive handler time is reported next to the figure for comparison.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass

from bench.prices import Prices

# The deployed functions (stacks/functions.py: ServiceFunction's default memory; stacks/lambda_runtime.py).
LAMBDA_MEMORY_MB = 512
LAMBDA_ARCHITECTURE = "arm64"
# Lambda gives a function one full vCPU at 1,769 MB and a proportional share below that.
FULL_VCPU_MEMORY_MB = 1769
# The event source mappings (stacks/dispatcher.py): records per stream invocation, messages per SQS one.
STREAM_BATCH_SIZE = 1000
QUEUE_BATCH_SIZE = 10
# An SQS-triggered invocation costs the queue a ReceiveMessage and a DeleteMessageBatch.
SQS_REQUESTS_PER_QUEUE_INVOCATION = 2

# Typical in-region round trips from Lambda, in ms (assumptions, not measurements).
AWS_LATENCY_MS: dict[tuple[str, str], float] = {
    ("dynamodb", "BatchWriteItem"): 15.0,
    ("dynamodb", "BatchGetItem"): 10.0,
    ("dynamodb", "TransactWriteItems"): 12.0,
    ("dynamodb", "TransactGetItems"): 8.0,
}
DEFAULT_LATENCY_MS = {"dynamodb": 5.0, "sqs": 8.0, "s3": 20.0, "secretsmanager": 20.0}
FALLBACK_LATENCY_MS = 10.0


def cpu_slowdown(memory_mb: int = LAMBDA_MEMORY_MB) -> float:
    """How much slower than one full core the function's own code runs."""
    return max(1.0, FULL_VCPU_MEMORY_MB / memory_mb)


def aws_latency_ms(calls: Counter[tuple[str, str]]) -> float:
    total = 0.0
    for (service, operation), count in calls.items():
        latency = AWS_LATENCY_MS.get(
            (service, operation), DEFAULT_LATENCY_MS.get(service, FALLBACK_LATENCY_MS)
        )
        total += latency * count
    return total


def billed_ms(own_seconds: float, calls: Counter[tuple[str, str]], memory_mb: int = LAMBDA_MEMORY_MB) -> int:
    """Lambda bills duration in whole milliseconds, rounded up."""
    return max(1, math.ceil(own_seconds * 1000 * cpu_slowdown(memory_mb) + aws_latency_ms(calls)))


def gb_seconds(duration_ms: float, memory_mb: int = LAMBDA_MEMORY_MB) -> float:
    return duration_ms / 1000 * memory_mb / 1024


@dataclass(frozen=True)
class JobUsage:
    """What one job lifecycle uses, on average."""

    api_requests: float
    lambda_requests: float
    lambda_gb_seconds: float
    write_units: float
    read_units: float
    sqs_requests: float
    s3_put_requests: float = 0.0
    s3_get_requests: float = 0.0


@dataclass(frozen=True)
class CostPerMillion:
    api_gateway: float
    lambda_requests: float
    lambda_duration: float
    dynamodb_writes: float
    dynamodb_reads: float
    sqs: float
    s3: float

    @property
    def total(self) -> float:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, float]:
        return {**{k: round(v, 4) for k, v in asdict(self).items()}, "total": round(self.total, 4)}


def usd_per_million_jobs(usage: JobUsage, prices: Prices) -> CostPerMillion:
    gb_second_price = (
        prices.lambda_gb_second_arm64 if LAMBDA_ARCHITECTURE == "arm64" else prices.lambda_gb_second_x86_64
    )
    million = 1_000_000
    return CostPerMillion(
        api_gateway=usage.api_requests * prices.http_api_request * million,
        lambda_requests=usage.lambda_requests * prices.lambda_request * million,
        lambda_duration=usage.lambda_gb_seconds * gb_second_price * million,
        dynamodb_writes=usage.write_units * prices.dynamodb_write_request_unit * million,
        dynamodb_reads=usage.read_units * prices.dynamodb_read_request_unit * million,
        sqs=usage.sqs_requests * prices.sqs_request * million,
        s3=(usage.s3_put_requests * prices.s3_put_request + usage.s3_get_requests * prices.s3_get_request)
        * million,
    )
