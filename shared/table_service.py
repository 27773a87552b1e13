"""What every service over the one table starts from: the table's name, the clock (tests pass a
controlled one) and the DynamoDB client, created on first use so a cold start does not pay for it."""

from __future__ import annotations

from typing import Any

from shared import aws_clients
from shared.clock import Clock, SystemClock
from shared.config import settings


class TableService:
    def __init__(self, table: str | None = None, clock: Clock | None = None) -> None:
        self.table = table or settings().table_name
        self.clock = clock or SystemClock()

    @property
    def _db(self) -> Any:
        return aws_clients.client("dynamodb")
