"""What every service over the one table starts from: the table's name, the clock (tests pass a
controlled one) and the DynamoDB client, created on first use so a cold start does not pay for it."""

from __future__ import annotations

from typing import Any

from shared.plumbing import aws_clients
from shared.plumbing.clock import Clock, SystemClock
from shared.plumbing.config import settings
from shared.plumbing.table_keys import health_probe_key


class TableService:
    def __init__(self, table: str | None = None, clock: Clock | None = None) -> None:
        self.table = table or settings().table_name
        self.clock = clock or SystemClock()

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")


def table_answers() -> bool:
    """Whether the table answers a read (the health probes). A data-plane read of a fixed key:
    public probes must not spend the control plane's small DescribeTable quota, and a read proves
    more than the table's existence."""
    try:
        aws_clients.client("dynamodb").get_item(TableName=settings().table_name, Key=health_probe_key())
        return True
    except Exception:  # any failure to reach the table means "not ready", never a 500
        return False
