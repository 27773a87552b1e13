"""A faster parse of the JSON answers botocore gets from the local stack's in-process moto: the same
dicts, built with less work.

botocore turns a JSON answer into Python by walking the operation's output shape: for every
structure it visits every member the model defines, looking up each member's wire name through a
cached property, and it dispatches every value through getattr(f"_handle_{type}"). A DynamoDB
attribute value is a structure of ten members of which one is ever set, so an item of twenty
attributes costs two hundred lookups; a stream batch of a few hundred records with old and new
images, or a Query answer of a hundred index entries, spent more time in this walk than moto took
to produce it (a tenth of the stack's CPU under the 16-worker bench).

The parser here is botocore's JSON parser with two shortcuts, both exact:
- a structure's members, wire names and flags are listed once per shape object (the shapes are
  cached by the service model and never change), then the walk is botocore's own, member by member;
- an attribute value holding exactly one known member (what DynamoDB and moto send) is converted
  from that member alone, as botocore's walk would: strings, numbers and booleans as they are,
  blobs through the parser's blob parser, sets and lists element by element (a null element stays
  None), maps and lists of attribute values recursively. Anything else takes botocore's walk.

Only the "json" protocol's parser class is replaced, while the in-process moto runs (install() and
uninstall(), called by inprocess_moto.py); errors, timestamps, event streams and every other shape
go through botocore's code. tests/functional/local_stack/test_botocore_speedups.py parses the
service's answers both ways and compares them.
"""

from __future__ import annotations

from typing import Any

from botocore import parsers

_ORIGINAL: dict[str, Any] = {}
_ATTRIBUTE_VALUE = "AttributeValue"
# The members of DynamoDB's (and DynamoDB Streams') AttributeValue and the shape type of each, as the
# models define them; the shortcut checks a shape against this before taking it.
_ATTRIBUTE_VALUE_MEMBERS = {
    "S": "string",
    "N": "string",
    "B": "blob",
    "SS": "list",
    "NS": "list",
    "BS": "list",
    "M": "map",
    "L": "list",
    "NULL": "boolean",
    "BOOL": "boolean",
}


class _Structure:
    """What botocore's structure walk reads from a shape, read once."""

    __slots__ = ("attribute_value", "document", "members", "shape", "tagged_union")

    def __init__(self, shape: Any) -> None:
        self.shape = shape  # kept alive: the cache is keyed by its id
        self.document = bool(shape.is_document_type)
        self.tagged_union = bool(shape.is_tagged_union)
        self.members = [
            (name, member, member.serialization.get("name", name)) for name, member in shape.members.items()
        ]
        self.attribute_value = shape.name == _ATTRIBUTE_VALUE and _is_attribute_value(shape)


def _is_attribute_value(shape: Any) -> bool:
    members = shape.members
    if {name: member.type_name for name, member in members.items()} != _ATTRIBUTE_VALUE_MEMBERS:
        return False
    if any(member.serialization for member in members.values()) or shape.is_tagged_union:
        return False
    return (
        members["M"].value.name == _ATTRIBUTE_VALUE
        and members["L"].member.name == _ATTRIBUTE_VALUE
        and members["SS"].member.type_name == "string"
        and members["NS"].member.type_name == "string"
        and members["BS"].member.type_name == "blob"
    )


_STRUCTURES: dict[int, _Structure] = {}


def _structure(shape: Any) -> _Structure:
    known = _STRUCTURES.get(id(shape))
    if known is None or known.shape is not shape:
        known = _STRUCTURES[id(shape)] = _Structure(shape)
    return known


class FastJSONParser(parsers.JSONParser):
    def _handle_structure(self, shape: Any, value: Any) -> Any:
        known = _structure(shape)
        if known.document or known.tagged_union or value is None:
            return super()._handle_structure(shape, value)
        if known.attribute_value and type(value) is dict and len(value) == 1:
            ((tag, raw),) = value.items()
            if raw is not None:
                converted = self._attribute_value(shape, tag, raw)
                if converted is not _NOT_TAKEN:
                    return {tag: converted}
        parsed = {}
        for name, member, json_name in known.members:
            raw = value.get(json_name)
            if raw is not None:
                parsed[name] = self._parse_shape(member, raw)
        return parsed

    def _attribute_value(self, shape: Any, tag: str, raw: Any) -> Any:
        """The member `tag` of an attribute value, as botocore's walk converts it."""
        if tag in ("S", "N", "BOOL", "NULL"):
            return raw
        if tag == "B":
            return self._blob_parser(raw)
        if tag in ("SS", "NS") and type(raw) is list:
            return list(raw)
        if tag == "BS" and type(raw) is list:
            blob = self._blob_parser
            return [None if item is None else blob(item) for item in raw]
        if tag == "M" and type(raw) is dict:
            return {key: self._handle_structure(shape, item) for key, item in raw.items()}
        if tag == "L" and type(raw) is list:
            return [None if item is None else self._handle_structure(shape, item) for item in raw]
        return _NOT_TAKEN


_NOT_TAKEN = object()


def install() -> None:
    if "json" not in _ORIGINAL:
        _ORIGINAL["json"] = parsers.PROTOCOL_PARSERS["json"]
        parsers.PROTOCOL_PARSERS["json"] = FastJSONParser


def uninstall() -> None:
    original = _ORIGINAL.pop("json", None)
    if original is not None:
        parsers.PROTOCOL_PARSERS["json"] = original
    _STRUCTURES.clear()
