"""Shortcuts through moto's slowest code, for the local stack's in-process moto. Each is exact:
same answers, same errors, only less work.

1. JSON answers.

moto 5.2 turns every DynamoDB, DynamoDB Streams and SQS answer into JSON with a generic serializer
that walks botocore's shape model and tries several key aliases for every attribute of every item.
Profiled under `make dev` load it was a third of the stack's CPU: an UpdateItem returning a job
(ALL_NEW, a 1 KB payload) or a GetRecords batch spent most of its time there.

These services already build their answers as plain dicts in wire format (attribute values as
{"S": ...}, keys named as in the API), so `json.dumps` of the same dict is the same document. The
fast path takes only such answers: dicts, lists, strings, numbers and booleans (None members left
out, datetimes as epoch seconds and bytes as base64 text, as the serializer does: a job's compressed
payload is bytes, and until round 3 every stream batch holding one went the slow way, 70% of the
stack's CPU under the 16-worker bench). Anything else (an error, a model object) goes through
moto's own serializer, unchanged. tests/functional/test_moto_speedups.py
compares the two paths on the calls the service makes.

2. Queries. moto answers every Query by sorting the whole table (Python comparisons of its key
objects), then filtering it. The pre-sort changes nothing: the matches are sorted again on keys
that are unique per item (the index's keys plus the table's, or the range key within one
partition). So a query here skips it, and a table query reads only its own partition. An index
query reads the items whose index partition key matches, from buckets built on the first such
query and then kept up to date: moto's put_item, update_item and delete_item (which every item
write, batch and transaction goes through) note the item they write, and after the call, still
under the moto lock (dynamodb_called(), told of every call), each noted item leaves its bucket
and goes to the one its attributes name now. Any other call that may write (a table created or
deleted, a cancelled transaction, which puts back copies) drops the buckets; the next query
builds them again. moto still applies every condition. Until round 6 every query after any write
rebuilt them from the whole table: in a session that had run 100,000 jobs, every claim walked
all of them.

3. Update expressions. moto parses an UpdateExpression twice per UpdateItem; the service sends the
same few expressions over and over. The parse is kept per expression text (the tree is only read,
and validation works on a deep copy of it). Its ten validation passes rebuild each pass's
node-type table for every node visited: each pass now builds it once.

5. Transactions. Before a TransactWriteItems, moto deep-copies each table it writes (once per item
of the transaction) to put back if one condition fails: seconds under the moto lock once a busy
session's table holds thousands of items, for every idempotent create. The copy here is of what a
transaction can change: the items it writes or checks (deep-copied, in partition dicts of their
own) and the stream's records; the other items and partitions are shared, untouched until the copy
is either dropped or put back.

6. Copies of parsed update expressions. Each UpdateItem's validator deep-copies the (cached) parse
tree before filling in the values: copy.deepcopy walks it in Python, ~1 ms a call, a tenth of the
stack's CPU under load. The tree is plain objects (no custom copy hooks), so unpickling a pickle of
it, taken once per tree, builds the same graph in C, ~15x faster. Anything else (a value in a
function's arguments) is still deep-copied.

7. Copies of query results. moto deep-copies every item a Query matched (whole jobs, payload
included) and then, for a KEYS_ONLY or INCLUDE index, projects each copy onto a few attributes,
copying those again: the first copy is thrown away unread. For such an index the matched items
go to the projection as they are (it copies what it keeps, so the answer still shares nothing
with the table); a table query or an ALL index keeps moto's copy.

8. Condition expressions. moto lexes a ConditionExpression with a list of regular expressions,
character run by character run, on every conditional write; the service sends the same few texts.
The tokens depend on the text alone, so they are kept per text (each hit gets fresh tokens: the
parser builds its tree from them), built as plain tuples rather than through namedtuple._replace.

9. Type tests in the update-expression code. moto's AST classes use ABCMeta, so every isinstance()
of its traversals (ten passes over the tree per UpdateItem) and of Node.find_clauses is a
Python-level __instancecheck__. The answers depend on the node's type alone, so they are kept per
type (and per traverser class, whose processing map is a literal); the walk is moto's, step for step.

10. Action lookup. For every call moto lists the handler class's functions (inspect.getmembers) and
converts the action name to snake case character by character: both kept per class and per name.

11. Structural checks of update expressions. Of UpdateItem's ten validation passes, the first
three (one SET/REMOVE/ADD clause each, no overlapping paths, no key attribute updated) read only
the parse tree, the attribute names and the table's keys, and change nothing; two of them run on
every clause node and search its whole subtree again. They are skipped once they passed for the
same expression text, names and keys (a failure is never kept: it is raised again each time).

12. Item sizes in a query. moto adds up each matched item's size (every attribute's bytes, the
payload's included) twice per item, to stop at 1 MB. Within one query, under the moto lock, no
item changes: each size is computed once per query.

13. Stream records. A GetRecords answer is its records' JSON: moto builds each record once, when
the write happens, and never changes it; both stream readers of the stack read every record. Each
record's text is kept (the newest RECORD_TEXTS_KEPT) and an answer is put together from the texts,
the same document json.dumps of the whole answer writes.

14. Results of DynamoDB calls. moto's DynamoResult converts its whole answer (dynamo_to_dict,
which walks every item of a Query) when it is made, and the JSON fast path then walks it again
(plain). The conversion now waits until moto's own serializer reads the result; the fast path
walks the unconverted answer once, applying both (plain dicts, lists and scalars are what both
leave as they are; anything else goes through both).

15. Condition expressions parsed twice. moto's UpdateItem (PutItem, DeleteItem) handler parses the
condition only to check that every given name and value is used, throws the result away, and the
backend parses the same text with the same name and value maps again to evaluate it. A parse is
kept for the one that follows it in the same thread (under the moto lock: the same request); when
that one has the same text and the very same two maps, it gets the kept result (used by it alone:
the first caller threw it away) and the same names and values found.

4. Index projections. To project an item onto an index (INCLUDE, KEYS_ONLY), moto converts the
whole item to plain JSON and back once per projected attribute. Projecting top-level attributes
is copying those attributes.

16. Simple update expressions. Most of an UpdateItem's time in moto (a tenth of the stack's CPU
under the 16-worker bench) is its update-expression validator: ten passes over a copy of the parse
tree, for expressions that only set attributes to values, remove attributes and add to numbers
(`SET #a = :a, #b = :b REMOVE #c ADD #v :one`, what the service sends). For exactly that form, with
every name given as a placeholder, the validator's answer is known without the passes: each value
placeholder replaced by its value and nothing else, and the executor then sets, pops and adds on
the item's top-level attributes in the expression's order. Such an expression is applied that way
when nothing in it could make moto's validator or executor raise (every placeholder defined, the
names distinct, none of them a table key, no placeholder text that names a key or a defined
attribute, no empty string or binary value, ADD only of a number to a number or to nothing);
anything else, and any other form, goes through moto's validator and executor unchanged. The same
DynamoType constructor, setter (with its item-size check) and number addition do the work.

17. Request ids. For every answer moto runs a regular expression over the whole body to put the
request id between <RequestId> tags, which only XML answers have: a JSON body (a stream batch, a
job with its payload) was scanned for nothing. The scan runs only where the tag is.

18. Copies in projections. A projected attribute is copied with its DynamoType's own __deepcopy__,
as copy.deepcopy does, without the generic dispatch and memo keeping around it.

19. The head of an index query. moto sorts every item of the queried index partition (a busy
queue's whole ready shard) and then walks the sorted list until its Limit. A first page's query
with a Limit, forward, without range-key condition or legacy filter, reads only the first Limit
items and one more (whether there is one decides LastEvaluatedKey): the sort here keeps only those,
heapq.nsmallest, which is the sorted list cut there. A FilterExpression is applied after the Limit,
as on AWS, so it changes nothing.

20. Index order, kept. With the buckets kept up to date (section 2), a claim's head query still
walked its whole bucket twice: moto's filter loop, then section 19's nsmallest, which computes the
sort key of every match. A busy queue's ready partition holds its whole backlog: with 5,000 jobs
waiting, a claim of ten took 85 ms instead of 23. A bucket now also keeps its items in each sort
order a query asked for (those holding the index's range attributes, which moto's query requires),
updated as items come and go (bisect). A query that section 19 takes, on a global index and
without range-key conditions, gets the first Limit + 1 of them at once: what moto's loop and sort
keep. The order is the one Table.query builds for a global index (_index_order, through moto's own
_generate_attr_to_sort_by); should moto sort on other attributes (never expected), the query is
answered from the whole bucket. An item whose values do not sort leaves that order unused, and
moto's own sort then raises as it does.
"""

from __future__ import annotations

import base64
import bisect
import calendar
import copy
import functools
import heapq
import json
import pickle
import re
import threading
from datetime import datetime
from typing import Any

# (class, attribute) → (its own original, or None when inherited; the original as looked up)
_PATCHED: dict[tuple[Any, str], tuple[Any, Any]] = {}
_EVERY_ITEM = object()
_query = threading.local()  # which items the query running in this thread needs
_DYNAMODB_READS = {
    "GetItem",
    "BatchGetItem",
    "TransactGetItems",
    "Query",
    "Scan",
    "DescribeTable",
    "DescribeTimeToLive",
    "ListTables",
    "ListTagsOfResource",
}
_version = 0  # bumped by every DynamoDB call that may change a table other than item by item
# DynamoDB operations whose only writes are moto's put_item, update_item and delete_item
_ITEM_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# (table, hash key, range key) of each item the DynamoDB call running under the moto lock wrote
_touched: list[Any] = []
_TOO_MANY = ("too many", None, None)  # in _touched: writes nobody reported (never under the lock)
_TOUCHED_BOUND = 10_000


class _Buckets:
    """One table's items by the values of some attributes (an index's partition key)."""

    __slots__ = ("attributes", "by_values", "heads", "table", "values_of", "version")

    def __init__(self, table: Any, attributes: tuple[str, ...], version: int) -> None:
        self.table = table
        self.attributes = attributes
        self.version = version
        self.by_values: dict[tuple[Any, ...], dict[tuple[Any, Any], Any]] = {}
        self.values_of: dict[tuple[Any, Any], tuple[Any, ...]] = {}  # item key → its bucket
        # bucket → (sort attributes, index range attributes) → the bucket in that order (section 20)
        self.heads: dict[tuple[Any, ...], dict[tuple[tuple[str, ...], tuple[str, ...]], _Ordered]] = {}
        for item in _every_item(table):
            self.put(item)

    def put(self, item: Any) -> None:
        values = tuple(item.attrs.get(name) for name in self.attributes)
        if any(value is None for value in values):
            return  # not in the index (sparse)
        key = (item.hash_key, item.range_key)
        self.by_values.setdefault(values, {})[key] = item
        self.values_of[key] = values
        for ordered in self.heads.get(values, {}).values():
            ordered.add(key, item)

    def drop(self, key: tuple[Any, Any]) -> None:
        values = self.values_of.pop(key, None)
        if values is not None:
            bucket = self.by_values[values]
            del bucket[key]
            if not bucket:
                del self.by_values[values]
            for ordered in self.heads.get(values, {}).values():
                ordered.remove(key)

    def ordered(self, values: tuple[Any, ...], keys: tuple[str, ...], ranges: tuple[str, ...]) -> _Ordered:
        known = self.heads.setdefault(values, {})
        if (keys, ranges) not in known:
            known[(keys, ranges)] = _Ordered(keys, ranges, self.by_values.get(values, {}))
        return known[(keys, ranges)]


class _Ordered:
    """A bucket's items that an index query can match (those holding the index's range attributes),
    in the order moto sorts a query's matches: on the Python values of `keys`, which include the
    table's keys, so no two items tie. Kept in order as items come and go; `broken` when an item's
    values do not sort (moto's own sort then raises as it would)."""

    __slots__ = ("broken", "items", "keys", "order_of", "orders", "ranges")

    def __init__(
        self, keys: tuple[str, ...], ranges: tuple[str, ...], bucket: dict[tuple[Any, Any], Any]
    ) -> None:
        self.keys = keys
        self.ranges = ranges
        self.broken = False
        self.order_of: dict[tuple[Any, Any], tuple[Any, ...]] = {}
        entries = []
        for key, item in bucket.items():
            order = self._order(item)
            if order is not None:
                self.order_of[key] = order
                entries.append((order, item))
        try:
            entries.sort(key=lambda entry: entry[0])
        except TypeError:
            self.broken = True
        self.orders = [order for order, _ in entries]
        self.items = [item for _, item in entries]

    def _order(self, item: Any) -> tuple[Any, ...] | None:
        if not all(item.attrs.get(name) for name in self.ranges):
            return None  # moto's query leaves out an item without the index's range attributes
        try:
            return tuple(item.attrs[key].cast_value for key in self.keys)
        except Exception:
            self.broken = True
            return None

    def add(self, key: tuple[Any, Any], item: Any) -> None:
        order = self._order(item)
        if order is None or self.broken:
            return
        try:
            at = bisect.bisect_left(self.orders, order)
        except TypeError:
            self.broken = True
            return
        self.orders.insert(at, order)
        self.items.insert(at, item)
        self.order_of[key] = order

    def remove(self, key: tuple[Any, Any]) -> None:
        order = self.order_of.pop(key, None)
        if order is None or self.broken:
            return
        at = bisect.bisect_left(self.orders, order)
        del self.orders[at]
        del self.items[at]


# (id of table, index partition key attributes) → its buckets
_buckets: dict[tuple[int, tuple[str, ...]], _Buckets] = {}


def dynamodb_called(operation: str, status: int | None = None) -> None:
    """Every DynamoDB call, made while the moto lock is still held; status: its HTTP status, when
    known. The index buckets (section 2) follow the items an item write touched; anything else
    that may have written drops them all."""
    global _version
    touched = list(_touched)
    _touched.clear()
    if operation in _DYNAMODB_READS:
        return
    cancelled = operation == "TransactWriteItems" and (status is None or status >= 300)
    if operation not in _ITEM_WRITES or cancelled or _TOO_MANY in touched:
        # A cancelled transaction puts back copies of what it touched (and of what it only
        # checked): the buckets would hold the items it replaced.
        _version += 1
        return
    for table, hash_key, range_key in touched:
        _bucket_follows(table, hash_key, range_key)


class _NotPlain(Exception):
    pass


def plain(value: Any) -> Any:
    """`value` as JSON-ready data the way moto's JSON serializer would write it, or _NotPlain."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime):  # "unixtimestamp", truncated to the millisecond
        seconds = calendar.timegm(value.timetuple())
        return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
    if isinstance(value, bytes):  # a blob ("B", "BS": compressed payloads) goes out as base64 text
        return base64.b64encode(value).decode("ascii")
    raise _NotPlain(type(value).__name__)


_SCALARS = (str, bool, int, float)


def plain_dynamo(value: Any) -> Any:
    """plain(dynamo_to_dict(value)) (section 14): plain dicts, lists and scalars are walked once;
    anything else (a DynamoType, a datetime, an object with to_json) goes through both."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k: plain_dynamo(v) for k, v in value.items() if v is not None}
    if kind is list:
        return [plain_dynamo(v) for v in value]
    from moto.dynamodb.models.utilities import dynamo_to_dict

    return plain(dynamo_to_dict(value))


def fast_body(action_result: Any) -> str | None:
    """The JSON body of a plain result, or None when moto's serializer must do it."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    kind = type(action_result)
    if kind not in (ActionResult, DynamoResult):  # e.g. PaginatedResult pages itself
        return None
    unconverted = action_result.__dict__.get("_speedups_raw", _NO_RAW) if kind is DynamoResult else _NO_RAW
    if unconverted is not _NO_RAW and action_result.__dict__.get("_result", _NO_RAW) is not _NO_RAW:
        # Read, so maybe changed: moto's handlers add ConsumedCapacity to the converted dict.
        unconverted = _NO_RAW
    try:
        if unconverted is not _NO_RAW:
            if not isinstance(unconverted, dict):
                return None
            return json.dumps(plain_dynamo(unconverted), separators=(",", ":"))
        result = action_result.result
        if not isinstance(result, dict):
            return None
        return json.dumps(plain(result), separators=(",", ":"))
    except _NotPlain:
        return None


_NO_RAW = object()


def _dynamo_result_init(self: Any, result: object) -> None:
    """DynamoResult's constructor without its conversion: kept for when `result` is read."""
    self._speedups_raw = result
    self._result = _NO_RAW


def _dynamo_result_converted(self: Any) -> object:
    """DynamoResult.result: dynamo_to_dict of what it was made with, as moto's constructor sets it."""
    if self._result is _NO_RAW:
        from moto.dynamodb.models.utilities import dynamo_to_dict

        self._result = dynamo_to_dict(self.__dict__["_speedups_raw"])
    return self._result


# id(stream record dict) → (the dict, kept alive so its id is not reused; its JSON text)
_record_texts: dict[int, tuple[Any, str]] = {}
RECORD_TEXTS_KEPT = 20_000  # the newest records' texts: a reader is rarely further behind


def _record_text(record: Any) -> str:
    known = _record_texts.get(id(record))
    if known is not None and known[0] is record:
        return known[1]
    text = json.dumps(plain(record), separators=(",", ":"))
    if len(_record_texts) >= RECORD_TEXTS_KEPT:
        del _record_texts[next(iter(_record_texts))]  # the oldest entry
    _record_texts[id(record)] = (record, text)
    return text


def _stream_records_body(action_result: Any) -> str | None:
    """A GetRecords answer from the texts of its records (section 13), or None for anything else."""
    from moto.core.responses import ActionResult

    if type(action_result) is not ActionResult:
        return None
    result = action_result.result
    if not isinstance(result, dict) or list(result) != ["NextShardIterator", "Records"]:
        return None
    records, iterator = result["Records"], result["NextShardIterator"]
    if not isinstance(records, list) or not isinstance(iterator, str):
        return None
    try:
        texts = [_record_text(record) for record in records if isinstance(record, dict)]
    except _NotPlain:
        return None
    if len(texts) != len(records):
        return None
    return f'{{"NextShardIterator":{json.dumps(iterator)},"Records":[{",".join(texts)}]}}'


def _fast_serialized(original: Any) -> Any:
    def serialized(self: Any, action_result: Any) -> Any:
        from moto.core.utils import get_service_model

        service_model = get_service_model(self.boto3_service_name)
        # SQS answers in the protocol it was asked in; only JSON has a fast path.
        if self.determine_response_protocol(service_model) != "json":
            return original(self, action_result)
        body = _stream_records_body(action_result) if self.service_name == "dynamodbstreams" else None
        if body is None:
            body = fast_body(action_result)
        if body is None:
            return original(self, action_result)
        version = service_model.metadata.get("jsonVersion", "1.0")
        headers = {"Content-Type": f"application/x-amz-json-{version}", **self.response_headers}
        return 200, headers, body

    return serialized


def _unsorted_for_queries(all_items: Any) -> Any:
    def items(self: Any) -> list[Any]:
        wanted = getattr(_query, "wanted", None)
        if wanted is None:  # a scan, an export: moto's sorted order
            return list(all_items(self))
        if wanted is _EVERY_ITEM:
            return _every_item(self)
        if isinstance(wanted, tuple):  # ((attribute, value), ...) of an index query
            head = getattr(_query, "head", None)
            if head is not None:
                ordered = _ordered(self, wanted, head[0], head[1])
                if not ordered.broken:
                    _query.head_used = head[0]
                    return ordered.items[: head[2]]
            return list(_bucket(self, wanted))
        partition = self.items.get(wanted)  # .get: items is a defaultdict
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]

    return items


def _every_item(table: Any) -> list[Any]:
    if not table.range_key_attr:
        return list(table.items.values())
    return [item for partition in table.items.values() for item in partition.values()]


def _current_buckets(table: Any, attributes: tuple[str, ...]) -> _Buckets:
    """The table's buckets by these attributes, built on first use and after any call that
    dropped them (section 2)."""
    buckets = _buckets.get((id(table), attributes))
    if buckets is None or buckets.table is not table or buckets.version != _version:
        buckets = _buckets[(id(table), attributes)] = _Buckets(table, attributes, _version)
    return buckets


def _bucket(table: Any, conditions: tuple[tuple[str, Any], ...]) -> list[Any]:
    """The items whose `conditions` attributes equal their values: a superset of the index query's
    answer (moto goes on to check every key condition and filter on them)."""
    buckets = _current_buckets(table, tuple(name for name, _ in conditions))
    return list(buckets.by_values.get(tuple(value for _, value in conditions), {}).values())


def _ordered(
    table: Any, conditions: tuple[tuple[str, Any], ...], keys: tuple[str, ...], ranges: tuple[str, ...]
) -> _Ordered:
    buckets = _current_buckets(table, tuple(name for name, _ in conditions))
    return buckets.ordered(tuple(value for _, value in conditions), keys, ranges)


def _bucket_follows(table: Any, hash_key: Any, range_key: Any) -> None:
    """After a write to the item at these keys: it leaves the bucket it was in, and goes to the
    one its attributes now name (if it still exists and is in the index)."""
    partition = table.items.get(hash_key)  # .get: items is a defaultdict
    item = partition.get(range_key) if partition is not None and table.range_key_attr else partition
    for buckets in _buckets.values():
        if buckets.table is table and buckets.version == _version:
            buckets.drop((hash_key, range_key))
            if item is not None:
                buckets.put(item)


def _writes_items(write: Any, dynamo_type: Any) -> Any:
    """A DynamoDBBackend item write (put_item, update_item, delete_item: each takes the table's name
    and then the item or its key) that notes which item it writes, before it writes it (a write
    that raises half-way still moved the item)."""

    def noted(self: Any, table_name: str, item_or_key: Any, *args: Any, **kwargs: Any) -> Any:
        if len(_touched) >= _TOUCHED_BOUND:
            _touched.clear()
            _touched.append(_TOO_MANY)
        try:
            table = self.get_table(table_name)
            hash_key = dynamo_type(item_or_key[table.hash_key_attr])
            range_key = dynamo_type(item_or_key[table.range_key_attr]) if table.range_key_attr else None
        except Exception:
            _touched.append(_TOO_MANY)  # moto is about to refuse it; if not, every bucket goes
        else:
            _touched.append((table, hash_key, range_key))
        return write(self, table_name, item_or_key, *args, **kwargs)

    return noted


def _query_marks_what_it_reads(query: Any) -> Any:
    def marked(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        conditions = tuple(kwargs.get("hash_key_conditions") or ())
        if index_name and conditions:
            _query.wanted = conditions
        else:
            _query.wanted = _EVERY_ITEM if index_name or hash_key is None else hash_key
        _query.projects = bool(index_name) and _projects(self, index_name)
        _query.sizes = {}
        _query.first = _first_needed(args, kwargs)
        _query.head = None
        if index_name and conditions and _query.first is not None and not kwargs.get("range_key_conditions"):
            order = _index_order(self, index_name)
            if order is not None:
                _query.head = (*order, _query.first)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _query.wanted = None
            _query.projects = False
            _query.sizes = None
            _query.first = None
            _query.head = None
            _query.head_used = None

    return marked


_QUERY_KEYWORDS = {
    "index_name",
    "consistent_read",
    "filter_expression",
    "hash_key_conditions",
    "range_key_conditions",
}


def _first_needed(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """How many of an index query's sorted matches moto can look at (section 19): its Limit and one
    more, which tells moto there is a next page; None when it may read further (no Limit, a page
    after the first, a backward scan, a range-key condition or a legacy filter on the matches)."""
    named = ("range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward")
    given = dict(zip(named, args, strict=False))
    given.update({key: value for key, value in kwargs.items() if key in named})
    legacy_filters = [key for key in kwargs if key not in named and key not in _QUERY_KEYWORDS]
    limit = given.get("limit")
    if (
        type(limit) is not int
        or limit <= 0
        or given.get("range_comparison")
        or given.get("exclusive_start_key") is not None
        or given.get("scan_index_forward") is False
        or legacy_filters
    ):
        return None
    return limit + 1


def _index_order(table: Any, index_name: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The attributes moto's query sorts an index's matches on, built as Table.query builds them for
    a global index, and the index's range attributes (a match must hold them); None for anything
    else (a local index), which goes moto's way."""
    from moto.dynamodb.models.table import GlobalSecondaryIndex

    index = next((i for i in table.global_indexes or [] if i.name == index_name), None)
    if not isinstance(index, GlobalSecondaryIndex):
        return None
    hashes = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    ranges = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
    if not hashes:
        return None
    if ranges:
        range_attrs: list[str | None] = [*ranges, table.range_key_attr]
    else:
        range_attrs = [table.range_key_attr or table.hash_key_attr, table.range_key_attr]
    keys = table._generate_attr_to_sort_by([*hashes, table.hash_key_attr], range_attrs)
    return tuple(keys), tuple(ranges)


def _projects(table: Any, index_name: str) -> bool:
    """True when the index keeps only some attributes: its projection copies what it keeps."""
    index = next((i for i in [*table.global_indexes, *table.indexes] if i.name == index_name), None)
    projection = (index.projection or {}).get("ProjectionType") if index is not None else None
    return projection in ("KEYS_ONLY", "INCLUDE")


class _QueryResultsCopy:
    """What moto's table module finds as `copy`: the deepcopy of a query's matches is skipped while
    a query on a projecting index runs in this thread (section 7); everything else is copy's own."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_query, "projects", False) and isinstance(value, list):
            return list(value)
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _sized_once_per_query(size: Any) -> Any:
    """Item.size, kept per item while one query runs in this thread (section 12)."""

    def sized(self: Any) -> int:
        memo = getattr(_query, "sizes", None)
        if memo is None:
            return int(size(self))
        known = memo.get(id(self))
        if known is not None and known[0] is self:
            return int(known[1])
        value = int(size(self))
        memo[id(self)] = (self, value)
        return value

    return sized


def _fast_project(project: Any) -> Any:

    def projected(self: Any, projection_expressions: list[list[str]]) -> Any:
        if any(len(path) != 1 or "[" in path[0] for path in projection_expressions):
            return project(self, projection_expressions)  # nested paths: moto's own way
        attrs = {}
        for (name,) in projection_expressions:
            if name in self.attrs and name not in attrs:
                attrs[name] = _deep_copy(self.attrs[name])
        result = type(self).__new__(type(self))  # as moto's: the same keys, only these attributes
        # Copied: a query's matches reach here uncopied (section 7), and nothing may share the table's.
        result.hash_key, result.range_key = _deep_copy(self.hash_key), _deep_copy(self.range_key)
        result.attrs = _limited(self.attrs, attrs)
        return result

    return projected


def _deep_copy(value: Any) -> Any:
    """copy.deepcopy(value) (section 18): a DynamoType's own __deepcopy__ with a fresh memo, which
    is what deepcopy calls, without deepcopy's dispatch and memo bookkeeping around it."""
    own = getattr(type(value), "__deepcopy__", None)
    return own(value, {}) if own is not None else copy.deepcopy(value)


def _limited(template: Any, attrs: dict[str, Any]) -> Any:
    """A dict of moto's item-attribute type holding `attrs`, without its per-insert size check
    (the attributes come from an item that passed it)."""
    copied = type(template).__new__(type(template))
    dict.__init__(copied)
    for key, value in attrs.items():
        dict.__setitem__(copied, key, value)
    return copied


def _cached_types(self: Any) -> tuple[type, ...]:
    cached = self.__dict__.get("_speedups_types")
    if cached is None:
        cached = self.__dict__["_speedups_types"] = tuple(self._processing_map().keys())
    return cached  # type: ignore[no-any-return]


def _cached_process(self: Any, node: Any) -> Any:
    table = self.__dict__.get("_speedups_map")
    if table is None:
        table = self.__dict__["_speedups_map"] = self._processing_map()
    for node_type, processor in table.items():
        if isinstance(node, node_type):
            return processor(node)
    return None


# type(node) → whether moto's AST code treats it as a Node; (traverser class, type(node)) → the key
# of the traverser's processing map that takes such a node, or None. The AST classes use ABCMeta, so
# each isinstance() there is a Python-level __instancecheck__; its answer depends on the type alone
# (moto registers no virtual subclasses), and each traverser's processing map is a literal whose
# keys and order are the same for every instance of its class.
_IS_NODE: dict[type, bool] = {}
_DESCENDS: dict[type, bool] = {}
_TAKEN_BY: dict[tuple[type, type], Any] = {}
_new_tuple = tuple.__new__


def _is_node(node_type: type) -> bool:
    known = _IS_NODE.get(node_type)
    if known is None:
        from moto.dynamodb.parsing.ast_nodes import Node

        known = _IS_NODE[node_type] = issubclass(node_type, Node)
    return known


def _taken_by(traverser: Any, node: Any) -> Any:
    key = (type(traverser), type(node))
    try:
        return _TAKEN_BY[key]
    except KeyError:
        pass
    taken_by = next((k for k in _processing_table(traverser) if isinstance(node, k)), None)
    _TAKEN_BY[key] = taken_by
    return taken_by


def _processing_table(traverser: Any) -> dict[Any, Any]:
    table = traverser.__dict__.get("_speedups_map")
    if table is None:
        table = traverser.__dict__["_speedups_map"] = traverser._processing_map()
    return table  # type: ignore[no-any-return]


def _traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
    """moto's DepthFirstTraverser.traverse_node_recursively, step for step, with the type tests
    answered from the tables above."""
    if not _is_node(type(node)):
        return node
    parent_node = node.parent
    if node.children is not None:
        for i, child_node in enumerate(node.children):
            self.pre_processing_of_child(node, i)
            self.traverse_node_recursively(child_node, i)
    taken_by = _taken_by(self, node)
    if taken_by is not None:
        node = _processing_table(self)[taken_by](node)
        node.parent = parent_node
        if parent_node:
            parent_node.children[child_id] = node
    return node


def _find_clauses(self: Any, clause_types: Any) -> list[Any]:
    """moto's Node.find_clauses, with "is it an Expression or an UpdateExpressionFunction" kept
    per type."""
    clauses = []
    for child in self.children or []:
        child_type = type(child)
        if child_type in clause_types:
            clauses.append(child)
            continue
        descends = _DESCENDS.get(child_type)
        if descends is None:
            from moto.dynamodb.parsing.ast_nodes import Expression, UpdateExpressionFunction

            descends = _DESCENDS[child_type] = issubclass(child_type, (Expression, UpdateExpressionFunction))
        if descends:
            clauses.extend(child.find_clauses(clause_types))
    return clauses


def _sorted_items(self: Any, hash_key_attrs: list[str], range_key_attrs: list[Any], items: list[Any]) -> Any:
    # moto's own order, compared on the attributes' Python values instead of through DynamoType's
    # rich comparisons (which compare exactly those values).
    keys = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)

    def order(item: Any) -> tuple[Any, ...]:
        return tuple(item.attrs[key].cast_value for key in keys)

    used = getattr(_query, "head_used", None)
    if used is not None:
        _query.head_used = None
        if tuple(keys) == used:
            return items  # the head of the bucket in this very order, what nsmallest would keep
        # Not the order the head was kept in (never expected): moto's matches from the whole bucket.
        ordered = _query.head
        items = [i for i in _bucket(self, _query.wanted) if all(i.attrs.get(n) for n in ordered[1])]
    first = getattr(_query, "first", None)
    if first is not None and len(items) > first:
        # sorted(items, key=order)[:first], which is what heapq.nsmallest is (section 19)
        return heapq.nsmallest(first, items, key=order)
    items.sort(key=order)
    return items


def _transaction_keys(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, dict[Any, set[Any]]]:
    """table name → hash key (partition) → the range keys of the items the transaction writes or
    checks there (None for a table without a range key)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys: dict[str, dict[Any, set[Any]]] = {}
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            source = op.get("Item") if op_type == "Put" else op.get("Key")
            if not source or table.hash_key_attr not in source:
                continue
            partitions = keys.setdefault(table.name, {})
            ranges = partitions.setdefault(DynamoType(source[table.hash_key_attr]), set())
            range_attr = table.range_key_attr
            ranges.add(DynamoType(source[range_attr]) if range_attr and range_attr in source else None)
    return keys


def _backup(table: Any, touched: dict[Any, set[Any]]) -> Any:
    """A table to put back in place of `table` if the transaction fails: equal to it now, as long as
    only the `touched` items change meanwhile. moto updates an item in place, puts a new one in its
    partition's dict, or pops it from there: so the touched items are deep-copied, each partition
    holding one gets a dict of its own, and every other item and partition is shared. A partition
    can hold thousands of items (a queue's stream marks, one per batch): copying it whole for each
    transaction made the stream's counter updates slower with every batch of the session."""
    import copy

    snapshot = copy.copy(table)
    snapshot.items = copy.copy(table.items)  # the same partitions, in a dict of its own
    for hash_key, range_keys in touched.items():
        if hash_key not in table.items:
            continue
        partition = table.items[hash_key]
        if not table.range_key_attr or not isinstance(partition, dict):
            snapshot.items[hash_key] = copy.deepcopy(partition)
            continue
        own = dict(partition)  # moto keeps a partition as a plain dict: range key → item
        for range_key in range_keys:
            if range_key in own:
                own[range_key] = copy.deepcopy(own[range_key])
        snapshot.items[hash_key] = own
    if table.stream_shard is not None:
        shard = copy.copy(table.stream_shard)
        shard.items = list(table.stream_shard.items)
        shard.table = snapshot
        snapshot.stream_shard = shard
    return snapshot


class _BackupCopy:
    """What moto's transact_write_items finds as `copy` while it runs: deepcopy of a table it
    is about to write becomes _backup, anything else is copied as before."""

    def __init__(self, partitions: dict[str, dict[Any, set[Any]]]) -> None:
        self.partitions = partitions

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        import copy

        from moto.dynamodb.models.table import Table

        if isinstance(value, Table) and value.name in self.partitions:
            return _backup(value, self.partitions[value.name])
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        import copy

        return getattr(copy, name)


def _cheap_transaction_backups(transact_write_items: Any) -> Any:
    def transact(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        import copy

        import moto.dynamodb.models as models

        # Only while this call runs, under the moto lock: nothing else runs moto meanwhile.
        models.copy = _BackupCopy(_transaction_keys(self, transact_items))  # type: ignore[assignment]
        try:
            return transact_write_items(self, transact_items)
        finally:
            models.copy = copy  # type: ignore[assignment]

    return transact


def _cached_lexing(lex: Any) -> Any:
    tokens: dict[str, tuple[Any, ...]] = {}

    def lexed(self: Any) -> Any:
        from collections import deque

        text = self.condition_expression
        cached = tokens.get(text)
        if cached is None:
            cached = tuple(lex(self))  # a text that does not lex raises, and is not kept
            if len(tokens) >= 1024:  # texts the service does not repeat: bounded
                tokens.clear()
            tokens[text] = cached
        # What node._replace(children=[...]) builds (a namedtuple is a tuple), without its Python-level
        # field juggling: _replace alone was a seventh of moto's time per call under load.
        return deque([_new_tuple(type(node), (*node[:-1], list(node.children))) for node in cached])

    return lexed


_last_parse = threading.local()  # the last condition parse of this thread (section 15)


def _parsed_once(parse: Any) -> Any:
    def parsed(self: Any) -> Any:
        key = (self.condition_expression, self.expression_attribute_names, self.expression_attribute_values)
        last = getattr(_last_parse, "entry", None)
        _last_parse.entry = None  # one use: only the parse that follows
        if (
            last is not None
            and last[0][0] == key[0]
            and last[0][1] is key[1]
            and last[0][2] is key[2]
            and key[1] is not None
            and key[2] is not None
        ):
            _, op, names_found, values_found = last
            self.expr_attr_names_found.extend(names_found)
            self.expr_attr_values_found.extend(values_found)
            return op
        names_before = len(self.expr_attr_names_found)
        values_before = len(self.expr_attr_values_found)
        op = parse(self)
        _last_parse.entry = (
            key,
            op,
            list(self.expr_attr_names_found[names_before:]),
            list(self.expr_attr_values_found[values_before:]),
        )
        return op

    return parsed


def _patch(owner: Any, name: str, replacement: Any) -> None:
    if (owner, name) not in _PATCHED:
        _PATCHED[(owner, name)] = (owner.__dict__.get(name), getattr(owner, name))
        setattr(owner, name, replacement)


def _patch_module(module: Any, name: str, replacement: Any) -> None:
    """A module global (a name the module imported): put back by uninstall() like a method."""
    if (module, name) not in _PATCHED:
        original = vars(module)[name]
        _PATCHED[(module, name)] = (original, original)
        setattr(module, name, replacement)


def originals(name: str) -> dict[Any, Any]:
    """class → the original `name` that install() replaced (for the equivalence test)."""
    return {owner: looked_up for (owner, attr), (_, looked_up) in _PATCHED.items() if attr == name}


def install() -> None:
    from moto.core import responses as responses_module
    from moto.core.responses import BaseResponse
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing import executors, validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.responses import DynamoHandler, DynamoResult
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.sqs.responses import SQSResponse

    for handler in (DynamoHandler, DynamoDBStreamsHandler, SQSResponse):
        original = handler.serialized
        _patch(handler, "serialized", _fast_serialized(original))
    _patch(Table, "all_items", _unsorted_for_queries(Table.all_items))
    for name in ("put_item", "update_item", "delete_item"):
        _patch(DynamoDBBackend, name, _writes_items(getattr(DynamoDBBackend, name), DynamoType))
    _patch(Table, "query", _query_marks_what_it_reads(Table.query))
    _patch(Table, "sorted_items", _sorted_items)
    _patch(Item, "project", _fast_project(Item.project))
    _patch(Item, "size", _sized_once_per_query(Item.size))
    _patch(DynamoResult, "__init__", _dynamo_result_init)
    _patch(DynamoResult, "result", property(_dynamo_result_converted))
    _patch(
        DynamoDBBackend,
        "transact_write_items",
        _cheap_transaction_backups(DynamoDBBackend.transact_write_items),
    )
    _patch(DepthFirstTraverser, "nodes_to_be_processed", _cached_types)
    _patch(DepthFirstTraverser, "process", _cached_process)
    _patch(DepthFirstTraverser, "traverse_node_recursively", _traverse_node_recursively)
    _patch(Node, "find_clauses", _find_clauses)
    _patch_module(responses_module, "method_names_from_class", _method_names)
    _patch_module(responses_module, "camelcase_to_underscores", _underscored)
    _patch(
        ConditionExpressionParser,
        "_lex_condition_expression",
        _cached_lexing(ConditionExpressionParser._lex_condition_expression),
    )
    _patch(ConditionExpressionParser, "parse", _parsed_once(ConditionExpressionParser.parse))
    _patch_module(validators, "deepcopy", _tree_copy)
    _patch(validators.UpdateExpressionValidator, "__init__", _lazy_validator_init)
    _patch(validators.UpdateExpressionValidator, "validate", _validate)
    _patch(BaseResponse, "_enrich_response", _enriched(BaseResponse._enrich_response))
    executor = executors.UpdateExpressionExecutor
    _patch(executor, "execute", _executing_plans(executor.execute))
    _patch_module(table_module, "copy", _QueryResultsCopy())
    make = UpdateExpressionParser.make  # a bound classmethod
    _patch(UpdateExpressionParser, "make", classmethod(lambda cls, text: _parsed(make, text)))


@functools.lru_cache(maxsize=256)
def _parsed_cached(make: Any, text: str) -> Any:
    tree = make(text)
    if len(_pickled_trees) >= 1024:  # trees the cache let go of: bounded, never wrong (keyed by tree)
        _pickled_trees.clear()
    _pickled_trees[id(tree)] = (tree, pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL), text)
    return tree


# id(parse tree) → (the tree, kept alive so its id is not reused; its pickle)
_pickled_trees: dict[int, tuple[Any, bytes, str]] = {}


def _tree_copy(value: Any, memo: Any = None) -> Any:
    """copy.deepcopy, through the pickle taken once for the parse trees of _parsed_cached."""
    cached = _pickled_trees.get(id(value))
    if cached is not None and cached[0] is value and memo is None:
        return pickle.loads(cached[1])
    return copy.deepcopy(value, memo)


@functools.lru_cache(maxsize=256)
def _method_names(clazz: Any) -> list[str]:
    """moto looks up an action's method by listing the handler class's functions (inspect.getmembers)
    on every call; the classes do not change while the stack runs (install() patches before any
    call). The caller only tests membership."""
    from moto.core.utils import method_names_from_class

    return method_names_from_class(clazz)


@functools.lru_cache(maxsize=1024)
def _underscored(name: str) -> str:
    """moto.core.utils.camelcase_to_underscores, a pure function of an action name, char by char."""
    from moto.core.utils import camelcase_to_underscores

    return camelcase_to_underscores(name)


# (expression text, its attribute names, the table's key attributes) whose structural checks passed
_STRUCTURE_PASSED: set[tuple[Any, ...]] = set()


def _structural_checks() -> tuple[type, ...]:
    """The validators that only read the parse tree, the attribute names and the table's keys, and
    change nothing: they run first, and pass or fail the same way for the same three."""
    from moto.dynamodb.parsing import validators

    return (
        validators.ActionCountValidator,
        validators.OverlappingPathsValidator,
        validators.UpdateHashRangeKeyValidator,
    )


def _validate(self: Any) -> Any:
    """A simple expression's plan (section 16); else moto's Validator.validate, without the
    structural checks once they passed for the same expression text, attribute names and table keys
    (the error, when they fail, is raised again every time: only a pass is kept)."""
    plan = _simple_plan(self)
    if plan is not None:
        return plan
    if "processors" not in self.__dict__:  # __init__ was put off (_lazy_validator_init)
        from moto.dynamodb.parsing.validators import Validator

        args, kwargs = self.__dict__["_speedups_arguments"]
        Validator.__init__(self, self._speedups_source, *args, **kwargs)
    source = self.__dict__.get("_speedups_source")
    cached = _pickled_trees.get(id(source))
    key = None
    if cached is not None and cached[0] is source:
        names = self.expression_attribute_names
        named = None if names is None else tuple(sorted(names.items()))
        key = (cached[2], named, tuple(self.table.table_key_attrs))
    structural = _structural_checks()
    skip = key is not None and key in _STRUCTURE_PASSED
    n = self.node_to_validate
    for processor in self.processors:
        if isinstance(processor, structural):
            if skip:
                continue
        elif key is not None and not skip:
            if len(_STRUCTURE_PASSED) >= 4096:  # bounded
                _STRUCTURE_PASSED.clear()
            _STRUCTURE_PASSED.add(key)  # every structural check, all before this one, passed
            skip = True
        n = processor.traverse(n)
    return n


def _parsed(make: Any, text: str) -> Any:
    return _parsed_cached(make, text)


def uninstall() -> None:
    _buckets.clear()
    _touched.clear()
    _record_texts.clear()
    _STRUCTURE_PASSED.clear()
    for (owner, name), (own, _) in _PATCHED.items():
        if own is None:
            delattr(owner, name)  # inherited again
        else:
            setattr(owner, name, own)
    _PATCHED.clear()


def _enriched(enrich: Any) -> Any:
    """BaseResponse._enrich_response, whose regex puts the request id between <RequestId> tags,
    run only on a body that has them (section 17); moto's other two steps, as moto does them."""
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    def enriched(headers: dict[str, Any], body: Any) -> tuple[dict[str, Any], Any]:
        if not isinstance(body, str) or "<RequestId>" in body:
            return enrich(headers, body)  # type: ignore[no-any-return]
        if "status" in headers:
            headers["status"] = str(headers["status"])
        gen_amzn_requestid_long(headers)
        return headers, body

    return staticmethod(enriched)


# Section 16: simple update expressions.
_SIMPLE_NAME = r"#[A-Za-z0-9_]+"
_SIMPLE_VALUE = r":[A-Za-z0-9_]+"
_SIMPLE_ITEMS = {
    "SET": rf"({_SIMPLE_NAME})\s*=\s*({_SIMPLE_VALUE})",
    "REMOVE": rf"({_SIMPLE_NAME})()",
    "ADD": rf"({_SIMPLE_NAME})\s+({_SIMPLE_VALUE})",
}
_SIMPLE_CLAUSE = "|".join(rf"{kind}\s+{item}(?:\s*,\s*{item})*" for kind, item in _SIMPLE_ITEMS.items())
_SIMPLE_CLAUSES = re.compile(rf"\s*(?:(?:{_SIMPLE_CLAUSE})(?:\s+|$))+")
_SIMPLE_TOKENS = re.compile(rf"{_SIMPLE_NAME}|{_SIMPLE_VALUE}|SET|REMOVE|ADD")


@functools.lru_cache(maxsize=256)
def simple_actions(text: str) -> tuple[tuple[str, str, str], ...] | None:
    """(SET|REMOVE|ADD, name placeholder, value placeholder or "") in the expression's order, when
    the text is only such clauses, each at most once; None for anything else."""
    if not _SIMPLE_CLAUSES.fullmatch(text):
        return None
    # The grammar holds, so the tokens are: a keyword, then its items (a name, and for SET and ADD
    # the value after it), then the next keyword. A name is one token, keyword-like text and all.
    actions: list[tuple[str, str, str]] = []
    kinds: list[str] = []
    kind, name = "", ""
    for token in _SIMPLE_TOKENS.findall(text):
        if token in _SIMPLE_ITEMS:
            kind = token
            kinds.append(kind)
        elif token.startswith("#"):
            name = token
            if kind == "REMOVE":
                actions.append((kind, name, ""))
        else:
            actions.append((kind, name, token))
    if len(set(kinds)) != len(kinds):
        return None  # a clause twice: moto's error
    return tuple(actions)


class _SimplePlan:
    """What the validator hands the executor for a simple expression: the actions, resolved."""

    __slots__ = ("actions",)

    def __init__(self, actions: list[tuple[str, str, Any]]) -> None:
        self.actions = actions

    def normalize(self) -> None:
        return None  # the actions are top-level and distinct: no REMOVE order to fix


def _simple_plan(validator: Any) -> _SimplePlan | None:
    """The plan for the validator's expression, or None when moto's own passes must run."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    source = validator.__dict__.get("_speedups_source")
    cached = _pickled_trees.get(id(source))
    if cached is None or cached[0] is not source:
        return None
    actions = simple_actions(cached[2])
    if actions is None:
        return None
    names = validator.expression_attribute_names or {}
    values = validator.expression_attribute_values or {}
    table, item = validator.table, validator.item
    guarded = set(table.table_key_attrs) | set(table.attribute_keys)
    guarded |= {definition["AttributeName"] for definition in table.attr or []}
    plan: list[tuple[str, str, Any]] = []
    for kind, placeholder, value_name in actions:
        name = names.get(placeholder)
        if name is None or placeholder in guarded or name in table.table_key_attrs:
            return None
        value = None
        if value_name:
            raw = values.get(value_name)
            if not isinstance(raw, dict) or len(raw) != 1:
                return None
            ((tag, inner),) = raw.items()
            if tag in ("S", "B") and not inner:
                return None
            if kind == "ADD":
                existing = item.attrs.get(name)
                if tag != "N" or (existing is not None and existing.type != "N"):
                    return None
            value = DynamoType(raw)
        plan.append((kind, name, value))
    if len({name for _, name, _ in plan}) != len(plan):
        return None  # overlapping paths: moto's error
    return _SimplePlan(plan)


def _apply_simple(plan: _SimplePlan, item: Any) -> None:
    """moto's SetExecutor, RemoveExecutor and AddExecutor (numbers) on top-level attributes."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = item.attrs
    for kind, name, value in plan.actions:
        if kind == "SET":
            attrs[name] = value
        elif kind == "REMOVE":
            attrs.pop(name, None)
        else:
            existing = attrs.get(name)
            if existing is None:
                existing = DynamoType({"N": "0"})
            attrs[name] = existing + value


def _executing_plans(execute: Any) -> Any:
    def executed(self: Any, node: Any = None) -> None:
        if node is None and isinstance(self.update_ast, _SimplePlan):
            _apply_simple(self.update_ast, self.item)
            return
        execute(self, node)

    return executed


def _lazy_validator_init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
    """Validator.__init__'s arguments, kept: its copy of the tree and its passes are made only
    when a simple plan cannot stand in for them (_validate)."""
    self._speedups_source = expression
    self._speedups_arguments = (args, kwargs)
    names, values, item, table = _validator_arguments(args, kwargs)
    self.expression_attribute_names = names
    self.expression_attribute_values = values
    self.item = item
    self.table = table


def _validator_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    order = ("expression_attribute_names", "expression_attribute_values", "item", "table")
    given = dict(zip(order, args, strict=False))
    given.update(kwargs)
    return tuple(given[name] for name in order)  # type: ignore[return-value]
