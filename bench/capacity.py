"""DynamoDB request units by AWS's published rules, from item images in DynamoDB's JSON form.

Pure functions: the meter (bench/meter.py) hands in the images it read around each call.
Rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/):
- item size = the UTF-8 length of every attribute name plus the size of its value;
- a write costs 1 unit per started KB of the larger of the old and the new image; a failed
  conditional write costs the units of the item as it stands; transactions cost twice;
- a read costs 1 unit per started 4 KB if strongly consistent, half that if eventually consistent;
  a query sums the sizes of everything it returns before rounding;
- each global secondary index the write touches costs a write of the projected entry: putting
  an item into the index or taking it out is one write, changing its index key is two (delete
  and put), changing only projected attributes is one, and an item absent before and after costs
  nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Item = dict[str, dict[str, Any]]  # attribute name -> {"S": ...} / {"N": ...} / ...

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


@dataclass(frozen=True)
class IndexShape:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # KEYS_ONLY | INCLUDE | ALL
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableShape:
    name: str
    key_attributes: tuple[str, ...]
    indexes: tuple[IndexShape, ...] = ()

    def key_of(self, item: Item) -> Item:
        return {name: item[name] for name in self.key_attributes}


def shape_from_description(table: dict[str, Any]) -> TableShape:
    """A TableShape from DescribeTable's `Table`."""

    def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
        by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
        return by_type["HASH"], by_type.get("RANGE")

    hash_key, range_key = keys(table["KeySchema"])
    indexes = []
    for index in table.get("GlobalSecondaryIndexes", []):
        index_hash, index_range = keys(index["KeySchema"])
        projection = index.get("Projection", {})
        indexes.append(
            IndexShape(
                name=index["IndexName"],
                hash_key=index_hash,
                range_key=index_range,
                projection=projection.get("ProjectionType", "ALL"),
                non_key_attributes=tuple(projection.get("NonKeyAttributes", ())),
            )
        )
    key_attributes = (hash_key,) if range_key is None else (hash_key, range_key)
    return TableShape(table["TableName"], key_attributes, tuple(indexes))


def shape_from_definition(table: Any, name: str) -> TableShape:
    """A TableShape from a shared.plumbing.schema.TableDefinition (the one source of the table's
    keys and indexes) and the table's physical name."""
    sort_key = table.sort_key.name if table.sort_key else None
    key_attributes = (table.partition_key.name,) if sort_key is None else (table.partition_key.name, sort_key)
    indexes = tuple(
        IndexShape(
            name=index.name,
            hash_key=index.partition_key.name,
            range_key=index.sort_key.name if index.sort_key else None,
            projection=index.projection,
            non_key_attributes=tuple(index.non_key_attributes),
        )
        for index in table.indexes
    )
    return TableShape(name, key_attributes, indexes)


def _number_size(text: str) -> int:
    # Numbers are stored as up to 38 significant digits, two per byte, plus one byte.
    mantissa = text.lower().split("e", 1)[0].lstrip("+-")
    digits = mantissa.replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":  # 3 bytes for the list, 1 per element
        return 3 + sum(1 + value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Item | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def index_entry(item: Item | None, index: IndexShape, table: TableShape) -> Item | None:
    """The entry `item` has in a (sparse) index, or None when it lacks the index's key attributes."""
    if not item or index.hash_key not in item or (index.range_key and index.range_key not in item):
        return None
    if index.projection == "ALL":
        return dict(item)
    names = {*table.key_attributes, index.hash_key, *([index.range_key] if index.range_key else [])}
    if index.projection == "INCLUDE":
        names.update(index.non_key_attributes)
    return {name: item[name] for name in names if name in item}


def _partition(entry: Item, index: IndexShape) -> str:
    ((_, value),) = entry[index.hash_key].items()
    return str(value)


def _index_key(entry: Item, index: IndexShape) -> tuple[Any, Any]:
    return entry[index.hash_key], entry.get(index.range_key) if index.range_key else None


def index_writes(
    old: Item | None, new: Item | None, index: IndexShape, table: TableShape
) -> list[tuple[str, int]]:
    """(index partition written, units) for each index write one table write causes."""
    before = index_entry(old, index, table)
    after = index_entry(new, index, table)
    if after is not None and before is None:
        return [(_partition(after, index), write_units(item_size(after)))]
    if before is not None and after is None:
        return [(_partition(before, index), write_units(item_size(before)))]
    if before is None or after is None:
        return []
    if _index_key(before, index) != _index_key(after, index):
        return [
            (_partition(before, index), write_units(item_size(before))),
            (_partition(after, index), write_units(item_size(after))),
        ]
    if before != after:
        return [(_partition(after, index), write_units(max(item_size(before), item_size(after))))]
    return []


def index_write_units(old: Item | None, new: Item | None, index: IndexShape, table: TableShape) -> int:
    return sum(units for _, units in index_writes(old, new, index, table))


@dataclass
class WriteCost:
    base: float = 0.0
    indexes: dict[str, int] = field(default_factory=dict)  # index name -> units
    # (index name, partition key value) -> units: what the scale model needs to find hot partitions
    partitions: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.base + sum(self.indexes.values())


def item_write_cost(
    old: Item | None, new: Item | None, table: TableShape, transactional: bool = False
) -> WriteCost:
    """A write that succeeded: put or update (new set) or delete (new None)."""
    base = write_units(max(item_size(old), item_size(new)))
    cost = WriteCost(base=base * (2 if transactional else 1))
    for index in table.indexes:
        for partition, units in index_writes(old, new, index, table):
            cost.indexes[index.name] = cost.indexes.get(index.name, 0) + units
            key = (index.name, partition)
            cost.partitions[key] = cost.partitions.get(key, 0) + units
    return cost


def failed_write_cost(current: Item | None, transactional: bool = False) -> WriteCost:
    """A write whose condition failed: billed on the item as it is, no index is touched."""
    return WriteCost(base=write_units(item_size(current)) * (2 if transactional else 1))


def query_read_units(returned: list[Item], consistent: bool) -> float:
    return read_units(sum(item_size(item) for item in returned), consistent)
