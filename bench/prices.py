"""AWS list prices the cost model uses: us-east-1, on-demand, first pricing tier, no free tier.

The one file with dollar figures in it. When AWS changes a price, change it here and the date with it;
the report prints both, so a figure can always be traced to the prices it was computed from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PRICES_AS_OF = "2026-11-27"
REGION = "us-east-1"
SOURCES = (
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "https://aws.amazon.com/lambda/pricing/",
    "https://aws.amazon.com/api-gateway/pricing/",
    "https://aws.amazon.com/sqs/pricing/",
    "https://aws.amazon.com/s3/pricing/",
)


@dataclass(frozen=True)
class Prices:
    """US dollars per single unit (a request, a request unit, a GB-second)."""

    dynamodb_write_request_unit: float
    dynamodb_read_request_unit: float
    lambda_request: float
    lambda_gb_second_arm64: float
    lambda_gb_second_x86_64: float
    http_api_request: float  # API Gateway HTTP API, per request of up to 512 KB
    rest_api_request: float  # API Gateway REST API, for comparison only
    sqs_request: float  # standard queue, per 64 KB chunk of a request
    s3_put_request: float  # PUT, COPY, POST, LIST
    s3_get_request: float  # GET and all other requests

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


US_EAST_1 = Prices(
    dynamodb_write_request_unit=0.625 / 1_000_000,
    dynamodb_read_request_unit=0.125 / 1_000_000,
    lambda_request=0.20 / 1_000_000,
    lambda_gb_second_arm64=0.0000133334,
    lambda_gb_second_x86_64=0.0000166667,
    http_api_request=1.00 / 1_000_000,
    rest_api_request=3.50 / 1_000_000,
    sqs_request=0.40 / 1_000_000,
    s3_put_request=0.005 / 1_000,
    s3_get_request=0.0004 / 1_000,
)
