"""local_stack/moto_speedups.py writes moto's plain answers with json.dumps: every answer the service's
own calls get must be the same document moto's serializer writes. The real handlers run a job's
life (create, bulk, idempotent create, claim, heartbeat, complete, fail, reads), the stream goes to
the dispatcher and the live fan-out, and the dispatch queue to the timers, with both serializers
run on every answer and compared."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack import moto_speedups
from tests.conftest import ApiClient
from tests.functional.local_stack.stack_setup import drain_stream, inprocess_stack


class Comparison:
    def __init__(self) -> None:
        self.fast = Counter[str]()
        self.slow = Counter[str]()
        self.mismatches: list[str] = []

    def wrap(self, original: Any, fast: Any) -> Any:
        def serialized(handler: Any, action_result: Any) -> Any:
            expected = original(handler, action_result)
            got = fast(handler, action_result)
            operation = handler._get_action()
            if moto_speedups.fast_body(action_result) is not None:
                self.fast[operation] += 1
            else:
                self.slow[operation] += 1
            same = (
                got[0] == expected[0]
                and got[1].get("Content-Type") == expected[1].get("Content-Type")
                and json.loads(got[2] or "null") == json.loads(expected[2] or "null")
            )
            if not same:
                self.mismatches.append(f"{operation}: {expected!r:.600} != {got!r:.600}")
            return expected

        return serialized


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[Comparison]:
    comparison = Comparison()

    def patch() -> None:
        for handler, original in moto_speedups.originals("serialized").items():
            monkeypatch.setattr(handler, "serialized", comparison.wrap(original, handler.serialized))

    with inprocess_stack(monkeypatch, patch):
        yield comparison


def test_the_fast_path_writes_what_motos_serializer_writes(compared: Comparison) -> None:
    from functions.dispatcher.handler import handler as dispatcher
    from local_stack.dispatch_loop import QueuePoller
    from shared.identity.credentials import mint_key
    from shared.identity.organizations import create_organization
    from shared.plumbing.config import settings

    created = create_organization("Speed", "speed", api_key=mint_key("development"))
    api = ApiClient(created.api_key["key"])
    jobs = "/api/v1/jobs"
    one = api.post(jobs, {"queue_name": "q", "payload": {"text": "é ü 😀", "n": 1.5, "list": [1, None]}})
    assert one.status == 201, one
    # Compressible: stored brotli-compressed, a binary attribute in the item and its stream records.
    packed = api.post(jobs, {"queue_name": "q", "payload": {"data": "x" * 1000}})
    assert packed.status == 201, packed
    assert api.post(jobs, {"queue_name": "q", "payload": {}, "idempotency_key": "k1"}).status == 201
    assert api.post(jobs, {"queue_name": "q", "payload": {}, "idempotency_key": "k1"}).status == 200
    bulk = api.post(f"{jobs}/bulk", {"queue_name": "q", "jobs": [{"payload": {"i": i}} for i in range(12)]})
    assert bulk.status in (200, 201), bulk
    claimed = api.post(f"{jobs}/claim", {"queue_name": "q", "worker_id": "w", "limit": 5}).json["jobs"]
    assert len(claimed) == 5
    first, second, *_ = claimed
    lease = {"worker_id": "w", "lease_id": first["lease_id"]}
    assert api.post(f"{jobs}/{first['id']}/heartbeat", {**lease, "lease_duration_secs": 60}).status == 200
    assert api.post(f"{jobs}/{first['id']}/complete", {**lease, "result": {"ok": True}}).status == 200
    failed = {"worker_id": "w", "lease_id": second["lease_id"], "error": "boom"}
    assert api.post(f"{jobs}/{second['id']}/fail", failed).status == 200
    assert api.get(f"{jobs}/{first['id']}").status == 200
    assert api.get(jobs, params={"queue_name": "q"}).status == 200
    assert api.get("/api/v1/queues").status == 200

    drain_stream()
    QueuePoller(settings().dispatch_queue_url, dispatcher).poll_once()
    dispatcher({"sweep": True})

    assert not compared.mismatches, "\n".join(compared.mismatches[:5])
    for operation in ("GetItem", "UpdateItem", "Query", "GetRecords", "TransactWriteItems"):
        assert compared.fast[operation] > 0, (operation, compared.fast)
    # Binary attributes (the compressed payload) take the fast path too: no record batch is left out.
    assert compared.slow["GetRecords"] == 0, compared.slow


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(compared: Comparison) -> None:
    import boto3

    from shared.plumbing.config import settings

    dynamodb = boto3.session.Session().client("dynamodb")
    table = settings().table_name

    def key(pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": "x"}}

    def stream_records() -> int:
        streams = boto3.session.Session().client("dynamodbstreams")
        arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])

    dynamodb.put_item(TableName=table, Item={**key("a"), "n": {"N": "1"}})
    before = stream_records()
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**key("b"), "n": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("a"),
                        "UpdateExpression": "SET n = :two",
                        "ConditionExpression": "n = :zero",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}},
                    }
                },
            ]
        )
    assert "Item" not in dynamodb.get_item(TableName=table, Key=key("b"))
    assert dynamodb.get_item(TableName=table, Key=key("a"))["Item"]["n"] == {"N": "1"}
    assert stream_records() == before
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {**key("b"), "n": {"N": "1"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": key("a"),
                    "UpdateExpression": "SET n = :two",
                    "ConditionExpression": "n = :one",
                    "ExpressionAttributeValues": {":two": {"N": "2"}, ":one": {"N": "1"}},
                }
            },
        ]
    )
    assert dynamodb.get_item(TableName=table, Key=key("a"))["Item"]["n"] == {"N": "2"}
    assert "Item" in dynamodb.get_item(TableName=table, Key=key("b"))
    assert stream_records() == before + 2
    assert not compared.mismatches, "\n".join(compared.mismatches[:5])


def _shape(node: Any, parent: Any = None) -> Any:
    """A parse tree as nested plain data; every node's parent must be the node holding it."""
    if not hasattr(node, "__dict__"):
        return node
    assert getattr(node, "parent", parent) is parent, f"{type(node).__name__}: parent not its holder"
    fields = {k: v for k, v in vars(node).items() if k not in ("parent", "children")}
    children = [_shape(child, node) for child in getattr(node, "children", None) or []]
    return (type(node).__name__, {k: _shape(v, node) for k, v in fields.items()}, children)


@pytest.mark.parametrize(
    "expression",
    [
        "SET #s = :s, attempts = attempts + :one, lease = if_not_exists(lease, :l) REMOVE ready_pk, ready_sk",
        "SET tags = list_append(if_not_exists(tags, :empty), :t), a.b[2].c = :v ADD n :one DELETE s :set",
        "REMOVE #a[0], b.c SET x = y - :d",
    ],
)
def test_a_parse_tree_copy_is_the_tree_deepcopy_makes(expression: str) -> None:
    import copy

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    moto_speedups.install()
    try:
        tree = UpdateExpressionParser.make(expression)  # through the cache, which pickles the tree
        copied = moto_speedups._tree_copy(tree)
    finally:
        moto_speedups.uninstall()
    assert id(tree) in moto_speedups._pickled_trees  # copied by unpickling, not deepcopy
    assert copied is not tree
    assert _shape(copied) == _shape(copy.deepcopy(tree)) == _shape(tree)


@pytest.mark.parametrize(
    "expression",
    [
        "attribute_exists(pk) AND #s = :ready AND (lease_id = :l OR attribute_not_exists(lease_id))",
        "attempts < :max AND NOT contains(tags, :t) AND size(payload) <= :n AND v BETWEEN :a AND :b",
        "#s IN (:a, :b, :c) AND a.b[1] <> :x",
    ],
)
def test_cached_condition_tokens_are_the_lexers(expression: str) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    values = {name: {"S": "x"} for name in (":ready", ":l", ":max", ":t", ":n", ":a", ":b", ":c", ":x")}

    def tokens() -> list[Any]:
        parser = ConditionExpressionParser(expression, {"#s": "status"}, values)
        return list(parser._lex_condition_expression())

    original = tokens()
    moto_speedups.install()
    try:
        first, second = tokens(), tokens()
        with pytest.raises(ValueError):  # a text that does not lex still fails, every time
            ConditionExpressionParser("a = :v ; b", {}, {":v": {"S": "x"}})._lex_condition_expression()
    finally:
        moto_speedups.uninstall()
    assert first == second == original
    assert all(a is not b for a, b in zip(first, second, strict=True))  # fresh tokens per parse


def _moto_table() -> Any:
    """A moto table keyed on `pk` alone, for validating update expressions against."""
    from moto.dynamodb.models.table import Table

    return Table(
        "t",
        account_id="123456789012",
        region="us-east-1",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
    )


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        (
            "SET #s = :s, attempts = attempts + :one, lease = if_not_exists(lease, :l) REMOVE ready_pk",
            {":s": {"S": "processing"}, ":one": {"N": "1"}, ":l": {"S": "lease"}},
        ),
        (
            "SET tags = list_append(if_not_exists(tags, :empty), :t), m.k = :v ADD n :one DELETE s :set",
            {
                ":empty": {"L": []},
                ":t": {"L": [{"S": "a"}]},
                ":v": {"S": "v"},
                ":one": {"N": "1"},
                ":set": {"SS": ["x"]},
            },
        ),
        ("SET attempts = :one, attempts = :one", {":one": {"N": "1"}}),  # overlapping paths
        ("SET a = :one SET b = :one", {":one": {"N": "1"}}),  # two SET clauses
        ("SET pk = :v", {":v": {"S": "other"}}),  # a key attribute
        ("SET a = absent + :one", {":one": {"N": "1"}}),  # a path that does not exist
        ("SET a = :undefined", {":one": {"N": "1"}}),  # a value that is not given
        ("SET attempts = attempts + :s", {":s": {"S": "x"}}),  # a type mismatch
    ],
)
def test_validation_with_the_type_tables_is_motos(expression: str, values: dict[str, Any]) -> None:
    """The traversal and find_clauses shortcuts (type tests kept per type) validate and evaluate an
    update expression exactly as moto's own code: the same resulting tree, or the same error."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    table = _moto_table()
    attrs = {
        "pk": {"S": "a"},
        "attempts": {"N": "2"},
        "n": {"N": "1"},
        "s": {"SS": ["x", "y"]},
        "m": {"M": {}},
    }

    def validated() -> Any:
        item = Item(DynamoType({"S": "a"}), None, attrs)
        try:
            tree = UpdateExpressionParser.make(expression)
            result = UpdateExpressionValidator(tree, {"#s": "status"}, values, item, table).validate()
        except Exception as error:  # the error itself is what is compared
            return (type(error).__name__, str(error))
        return _shape(result)

    original = validated()
    moto_speedups.install()
    try:
        fast, again = validated(), validated()  # the second after a pass skips the structural checks
    finally:
        moto_speedups.uninstall()
    assert fast == again == original


def test_structural_checks_are_skipped_only_for_the_same_names() -> None:
    """A pass is kept per expression text *and* attribute names: the same text naming a key
    attribute through its names still fails."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    table = _moto_table()

    def validate(names: dict[str, str]) -> None:
        item = Item(DynamoType({"S": "a"}), None, {"pk": {"S": "a"}})
        # A plain name keeps it off the simple-expression path (section 16), which has no passes.
        tree = UpdateExpressionParser.make("SET #k = :v, note = :v")
        UpdateExpressionValidator(tree, names, {":v": {"S": "x"}}, item, table).validate()

    moto_speedups.install()
    try:
        validate({"#k": "status"})
        validate({"#k": "status"})  # skipped this time
        assert moto_speedups._STRUCTURE_PASSED
        with pytest.raises(Exception, match="pk"):
            validate({"#k": "pk"})
    finally:
        moto_speedups.uninstall()


def _simple_table() -> Any:
    """A moto table keyed on pk and sk, with a sparse index keyed on ready_pk (as the jobs table)."""
    from moto.dynamodb.models.table import Table

    return Table(
        "t",
        account_id="123456789012",
        region="us-east-1",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        attr=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "ready_pk", "AttributeType": "S"},
        ],
        global_indexes=[
            {
                "IndexName": "ready",
                "KeySchema": [{"AttributeName": "ready_pk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


_NAMES = {"#s": "status", "#w": "worker", "#r": "ready_pk", "#v": "version", "#pk": "pk", "#x": "status"}
_ITEM = {
    "pk": {"S": "a"},
    "sk": {"S": "b"},
    "status": {"S": "pending"},
    "ready_pk": {"S": "q#0"},
    "version": {"N": "4"},
    "tags": {"SS": ["x"]},
}


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        # what the service sends: taken by the simple path
        (
            "SET #s = :s, #w = :w REMOVE #r ADD #v :one",
            {":s": {"S": "processing"}, ":w": {"S": "w1"}, ":one": {"N": "1"}},
        ),
        ("ADD #v :half SET #w = :m", {":half": {"N": "0.5"}, ":m": {"M": {"k": {"L": [{"N": "1"}]}}}}),
        ("REMOVE #w, #r", {}),
        ("ADD #w :one", {":one": {"N": "1"}}),  # to an absent attribute
        ("SET #w = :set", {":set": {"SS": ["a", "b"]}}),
        # what moto refuses, or the simple path leaves to moto
        ("SET #s = :s, #x = :s", {":s": {"S": "x"}}),  # two placeholders, one name
        ("SET #s = :undefined", {":one": {"N": "1"}}),
        ("SET #undefined = :one", {":one": {"N": "1"}}),
        ("SET #pk = :s", {":s": {"S": "other"}}),  # a table key
        ("SET #r = :empty", {":empty": {"S": ""}}),  # an index key set to an empty string
        ("ADD #s :one", {":one": {"N": "1"}}),  # a number added to a string
        ("ADD #v :s", {":s": {"S": "x"}}),
        ("ADD #w :set", {":set": {"SS": ["y"]}}),
        ("SET #s = :s SET #w = :s", {":s": {"S": "x"}}),
    ],
)
def test_a_simple_update_does_what_motos_validator_and_executor_do(
    expression: str, values: dict[str, Any]
) -> None:
    """Section 16: the item after the update (attributes in order, with their types) or the error
    is moto's own, for the expressions the simple path takes and for those it leaves to moto."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    table = _simple_table()

    def updated() -> Any:
        item = Item(DynamoType({"S": "a"}), DynamoType({"S": "b"}), copy.deepcopy(_ITEM))
        try:
            tree = UpdateExpressionParser.make(expression)
            validated = UpdateExpressionValidator(tree, dict(_NAMES), values, item, table).validate()
            validated.normalize()
            UpdateExpressionExecutor(validated, item, dict(_NAMES)).execute()
        except Exception as error:
            return (type(error).__name__, str(error))
        return [(name, value.type, value.value) for name, value in item.attrs.items()]

    original = updated()
    moto_speedups.install()
    try:
        fast, again = updated(), updated()
        taken = moto_speedups.simple_actions(expression) is not None
    finally:
        moto_speedups.uninstall()
    assert fast == again == original
    if expression.startswith(("SET #s = :s, #w", "ADD #v :half", "REMOVE", "SET #w = :set")):
        assert taken


def test_only_the_simple_form_is_taken() -> None:
    taken = moto_speedups.simple_actions
    assert taken("SET #a = :a, #b = :b REMOVE #c ADD #v :one") == (
        ("SET", "#a", ":a"),
        ("SET", "#b", ":b"),
        ("REMOVE", "#c", ""),
        ("ADD", "#v", ":one"),
    )
    # Keyword-like text inside a placeholder is part of it.
    assert taken("REMOVE #aSET ADD #b :c") == (("REMOVE", "#aSET", ""), ("ADD", "#b", ":c"))
    assert taken("SET #SET = :ADD") == (("SET", "#SET", ":ADD"),)
    for other in (
        "SET #a = :aREMOVE #b",
        "SET a = :a",  # a plain name
        "SET #a = #b",
        "SET #a = :a + :b",
        "SET #a = if_not_exists(#a, :a)",
        "SET #a.b = :a",
        "SET #a = :a SET #b = :b",
        "set #a = :a",
        "SET #a = :a DELETE #s :s",
        "SET #a = :a,",
        "",
    ):
        assert taken(other) is None, other


@pytest.mark.parametrize(
    "body",
    ['{"Item":{"note":{"S":"<RequestId>"}}}', '{"Count":0}', "<R><RequestId>old</RequestId></R>", b"{}", ""],
)
@pytest.mark.parametrize("headers", [{}, {"status": 400}])
def test_request_ids_go_where_moto_puts_them(body: Any, headers: dict[str, Any]) -> None:
    """Section 17: the same headers and body as moto's _enrich_response (its request id is random,
    so each side's own id is put back to compare)."""
    from moto.core.responses import BaseResponse

    def enriched() -> tuple[dict[str, Any], Any]:
        answer_headers, answer = BaseResponse._enrich_response(dict(headers), body)
        request_id = answer_headers.pop("x-amzn-requestid")
        assert len(request_id) == 52
        return answer_headers, answer.replace(request_id, "ID") if isinstance(answer, str) else answer

    original = enriched()
    moto_speedups.install()
    try:
        fast = enriched()
    finally:
        moto_speedups.uninstall()
    assert fast == original


def _create_indexed_table(db: Any) -> None:
    """Table "t" keyed on pk and sk, with a KEYS_ONLY global index "ready" on ipk and isk (a job
    table's ready index, in small)."""
    db.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "ipk", "isk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ready",
                "KeySchema": [
                    {"AttributeName": "ipk", "KeyType": "HASH"},
                    {"AttributeName": "isk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


def test_an_index_query_reads_the_same_page_when_only_its_head_is_sorted() -> None:
    """Section 19: pages, LastEvaluatedKey, counts and capacity of index queries are moto's own,
    for the first page with a Limit (taken) and for what the shortcut leaves to moto's full sort."""
    import random

    import boto3
    from moto import mock_aws

    def answers() -> list[Any]:
        with mock_aws():
            db = boto3.client("dynamodb", region_name="us-east-1")
            _create_indexed_table(db)
            rng = random.Random(5)
            for n in range(40):  # ties on the index's sort key: the table's keys break them
                item = {"pk": {"S": f"j{rng.randrange(1000):03}"}, "sk": {"S": str(n)}, "n": {"N": str(n)}}
                item["ipk"] = {"S": "q" if n % 4 else "other"}
                item["isk"] = {"S": f"{rng.randrange(8)}"}
                db.put_item(TableName="t", Item=item)
            base = {
                "TableName": "t",
                "IndexName": "ready",
                "KeyConditionExpression": "ipk = :q",
                "ExpressionAttributeValues": {":q": {"S": "q"}},
                "ReturnConsumedCapacity": "TOTAL",
            }
            queries = [
                {"Limit": 1},
                {"Limit": 7},
                {"Limit": 29},
                {"Limit": 30},
                {"Limit": 31},
                {},
                {"Limit": 5, "ScanIndexForward": False},
                {
                    "Limit": 5,
                    "FilterExpression": "isk > :low",
                    "ExpressionAttributeValues": {":q": {"S": "q"}, ":low": {"S": "3"}},
                },
                {
                    "Limit": 5,
                    "KeyConditionExpression": "ipk = :q AND isk > :low",
                    "ExpressionAttributeValues": {":q": {"S": "q"}, ":low": {"S": "3"}},
                },
            ]
            found = []
            for extra in queries:
                answer = db.query(**{**base, **extra})
                found.append({k: v for k, v in answer.items() if k != "ResponseMetadata"})
                if "LastEvaluatedKey" in answer:  # the next page: moto's full sort
                    page = db.query(**{**base, **extra, "ExclusiveStartKey": answer["LastEvaluatedKey"]})
                    found.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
            return found

    original = answers()
    moto_speedups.install()
    try:
        fast = answers()
    finally:
        moto_speedups.uninstall()
    assert fast == original
    assert any("LastEvaluatedKey" in page for page in original)


@pytest.mark.parametrize(
    ("args", "kwargs", "first"),
    [
        ((None, [], 25, None, True, None, "ready", False, None), {}, 26),  # a claim's head query
        ((None, [], 25, None, None, None, "ready", False, None), {}, 26),  # forward by default
        ((None, [], None, None, True, None, "ready", False, None), {}, None),  # no Limit
        ((None, [], 25, {"pk": "x"}, True, None, "ready", False, None), {}, None),  # a later page
        ((None, [], 25, None, False, None, "ready", False, None), {}, None),  # backward
        (("<", [], 25, None, True, None, "ready", False, None), {}, None),  # a range condition
        ((None, [], 25, None, True, None, "ready", False, None), {"status": {"x": 1}}, None),
        ((None, [], 25, None, True, None, "ready", False, None), {"hash_key_conditions": []}, 26),
    ],
)
def test_only_a_first_forward_page_with_a_limit_sorts_just_its_head(
    args: tuple[Any, ...], kwargs: dict[str, Any], first: int | None
) -> None:
    assert moto_speedups._first_needed(args, kwargs) == first


def _index_history(db: Any, rng: Any) -> list[Any]:
    """A few hundred writes of every kind the buckets must follow (put, update moving an item
    between index partitions or out of the index, an update that creates, delete, batch writes,
    committed and cancelled transactions, refused conditional writes), each followed by queries of
    the index partitions; the answers, in order."""
    from botocore.exceptions import ClientError

    _create_indexed_table(db)
    partitions = ["q1", "q2", "q3"]

    def key() -> dict[str, Any]:
        return {"pk": {"S": f"p{rng.randrange(3)}"}, "sk": {"S": f"s{rng.randrange(12)}"}}

    def item() -> dict[str, Any]:
        fields = {**key(), "n": {"N": str(rng.randrange(100))}}
        if rng.random() < 0.8:
            fields["ipk"] = {"S": rng.choice(partitions)}
            fields["isk"] = {"S": str(rng.randrange(5))}
        return fields

    def move(k: dict[str, Any]) -> dict[str, Any]:
        if rng.random() < 0.3:  # out of the index, or in its partition without a sort key
            return {"Key": k, "UpdateExpression": rng.choice(["REMOVE ipk", "REMOVE isk"])}
        return {
            "Key": k,
            "UpdateExpression": "SET ipk = :p, isk = :s",
            "ExpressionAttributeValues": {
                ":p": {"S": rng.choice(partitions)},
                ":s": {"S": str(rng.randrange(5))},
            },
        }

    answers: list[Any] = []
    for _ in range(300):
        step = rng.randrange(8)
        try:
            if step == 0:
                db.put_item(TableName="t", Item=item())
            elif step in (1, 2):  # also creates the item when it is not there
                db.update_item(TableName="t", **move(key()))
            elif step == 3:
                db.delete_item(TableName="t", Key=key())
            elif step == 4:
                writes = {}  # BatchWriteItem refuses two requests for one item
                for _ in range(rng.randrange(1, 6)):
                    if rng.random() < 0.7:
                        fields = item()
                        writes[(fields["pk"]["S"], fields["sk"]["S"])] = {"PutRequest": {"Item": fields}}
                    else:
                        k = key()
                        writes[(k["pk"]["S"], k["sk"]["S"])] = {"DeleteRequest": {"Key": k}}
                db.batch_write_item(RequestItems={"t": list(writes.values())})
            elif step in (5, 6):  # a transaction; one in three cancelled by a condition
                keys = {}
                while len(keys) < 3:
                    k = key()
                    keys[(k["pk"]["S"], k["sk"]["S"])] = k
                first, second, third = keys.values()
                check = "attribute_exists(pk)" if rng.random() < 0.66 else "attribute_not_exists(pk)"
                db.transact_write_items(
                    TransactItems=[
                        {"Update": {"TableName": "t", **move(first)}},
                        {"Delete": {"TableName": "t", "Key": second}},
                        {"ConditionCheck": {"TableName": "t", "Key": third, "ConditionExpression": check}},
                    ]
                )
            else:  # refused unless the item is in the index
                db.update_item(TableName="t", ConditionExpression="attribute_exists(ipk)", **move(key()))
        except ClientError as error:
            answers.append(error.response["Error"]["Code"])
        for partition in partitions:
            page = db.query(
                TableName="t",
                IndexName="ready",
                KeyConditionExpression="ipk = :p",
                ExpressionAttributeValues={":p": {"S": partition}},
                Limit=rng.choice([3, 50]),
            )
            answers.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
    return answers


def test_index_queries_follow_every_kind_of_write() -> None:
    """Sections 2 and 20: the index buckets, and their heads in the index's order, follow each item
    a write touched instead of being rebuilt; the answers of a long history are moto's own, and so
    are the errors."""
    import random

    import boto3
    from moto import mock_aws

    from local_stack.inprocess_moto import InProcessMoto
    from tests.conftest import SHARED_MOCK

    SHARED_MOCK.stop()
    with mock_aws():
        original = _index_history(boto3.client("dynamodb", region_name="us-east-1"), random.Random(11))
    moto = InProcessMoto().start()
    try:
        fast = _index_history(boto3.client("dynamodb", region_name="us-east-1"), random.Random(11))
        # the buckets were used, and kept up to date, and so were their heads in index order
        assert any(buckets.heads for buckets in moto_speedups._buckets.values())
    finally:
        moto.stop(keep_data=False)
    assert fast == original
    codes = [answer for answer in original if isinstance(answer, str)]
    assert "TransactionCanceledException" in codes and "ConditionalCheckFailedException" in codes
    assert sum(len(a.get("Items", [])) for a in original if isinstance(a, dict)) > 1000
