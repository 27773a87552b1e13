"""What every service over the one table starts from: the table's name, the clock (tests pass a
controlled one) and the DynamoDB client, created on first use so a cold start does not pay for it;
and reading whole items through a keys-only index: query the index for keys (newest first), then
BatchGetItem the items from the base table (strongly consistent; the index only gives the order)."""

from __future__ import annotations

from typing import Any

from shared.plumbing import aws_clients, dynamo_codec, schema
from shared.plumbing import table_keys as ex
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


def keys_in_partition(
    table: str, index: schema.GlobalIndex, partition: str, limit: int
) -> list[dict[str, Any]]:
    db = aws_clients.client("dynamodb")
    keys: list[dict[str, Any]] = []
    start_key = None
    while len(keys) < limit:
        page = db.query(**ex.query_newest_first(table, index, partition, limit - len(keys), start_key))
        keys.extend({"pk": raw["pk"], "sk": raw["sk"]} for raw in page.get("Items", []))
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            break
    return keys[:limit]


def get_items(table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of `keys` that exist, decoded, in the order of `keys`."""
    db = aws_clients.client("dynamodb")
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        while request:
            response = db.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(table, []):
                item = dynamo_codec.decode_item(raw)
                found[f"{item['pk']}|{item['sk']}"] = item
            request = response.get("UnprocessedKeys") or {}
    ordered = (found.get(f"{k['pk']['S']}|{k['sk']['S']}") for k in keys)
    return [item for item in ordered if item is not None]


def items_in_partition(
    table: str, index: schema.GlobalIndex, partition: str, limit: int
) -> list[dict[str, Any]]:
    return get_items(table, keys_in_partition(table, index, partition, limit))
