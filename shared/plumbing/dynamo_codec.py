"""Plain Python values ↔ DynamoDB attribute values, without boto3's resource layer.

The resource layer costs ~100 ms of import time per cold start; the store only needs strings,
integers, booleans, bytes, lists and maps. Job payloads and results are stored as JSON text, never as maps,
so they round-trip byte for byte.
"""

from __future__ import annotations

import base64
from typing import Any


def encode(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": str(value)}  # str() turns a StrEnum member into its plain value
    if isinstance(value, bytes):
        return {"B": value}  # compressed payloads
    if isinstance(value, list | tuple):
        return {"L": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: encode(v) for k, v in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def decode(attribute: dict[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return int(value) if "." not in value and "e" not in value.lower() else float(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "L":
        return [decode(v) for v in value]
    if kind == "M":
        return {k: decode(v) for k, v in value.items()}
    if kind == "SS":
        return set(value)
    if kind == "B":
        # boto3 hands out bytes; a stream record in a Lambda event carries base64 text.
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    raise TypeError(f"unsupported DynamoDB type {kind}")


def encode_item(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Encode a record; None values are left out (DynamoDB stores absence, not null)."""
    return {k: encode(v) for k, v in item.items() if v is not None}


def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: decode(v) for k, v in item.items()}


def encode_values(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """ExpressionAttributeValues (keys keep their leading colon)."""
    return {k: encode(v) for k, v in values.items()}
