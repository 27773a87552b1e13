"""A client mistake must never produce a 5xx (contract §1.4): every route of the API, whatever it
is sent, answers below 500 with a JSON error body carrying code and message.

The routes come from the router itself, so a route added later is covered without editing this.
"""

from __future__ import annotations

import json

import pytest

from functions.api.handler import ROUTER
from tests.conftest import ADMIN_KEY

ROUTES = sorted({(route.method, route.template) for route in ROUTER.routes})

WRONG_TYPES = {
    name: value
    for name, value in {
        "queue_name": 5,
        "payload": None,
        "priority": "5",
        "worker_id": 7,
        "lease_id": 8,
        "limit": "ten",
        "lease_duration_secs": [],
        "job_ids": "one",
        "confirm": "yes",
        "current_jobs": "2",
        "hostname": {},
        "error": ["e"],
        "result": None,
        "name": 5,
        "slug": 5,
        "queues": "all",
        "events": "all",
        "url": 5,
        "cron_expression": 5,
        "timezone": 5,
        "jobs": {"payload": {}},
        "tags": 5,
        "scheduled_at": 1,
        "older_than": True,
        "api_key": 5,
        "refresh_token": 5,
        "token": 5,
        "settings": "x",
        "metadata": 5,
        "depends_on": "x",
    }.items()
}
OUT_OF_RANGE = {
    "queue_name": "no spaces allowed!",
    "payload": {},
    "priority": 10_000,
    "worker_id": "",
    "lease_id": "",
    "limit": 0,
    "lease_duration_secs": 1,
    "max_retries": -1,
    "timeout_seconds": 0,
    "job_ids": [f"id-{n}" for n in range(150)],
    "confirm": False,
    "current_jobs": -1,
    "hostname": "-",
    "error": "",
    "name": "",
    "slug": "-",
    "queues": ["bad queue"] * 60,
    "events": ["no.such.event"],
    "url": "ftp://169.254.169.254/",
    "cron_expression": "* * * * * * * *",
    "timezone": "Mars/Olympus",
    "jobs": [],
    "scheduled_at": "0000-00-00",
    "expires_at": "1999-01-01T00:00:00Z",
    "older_than": "never",
    "api_key": "short",
    "rate_limit": 0,
    "status": "sleeping",
}
HUGE = {
    "queue_name": "q" * 5000,
    "payload": {"k" * 3000: "v"},
    "worker_id": "w" * 5000,
    "lease_id": "l" * 5000,
    "idempotency_key": "i" * 5000,
    "error": "e" * 100_000,
    "hostname": "h" * 5000,
    "name": "n" * 5000,
    "slug": "s" * 5000,
    "job_ids": ["j" * 3000] * 5,
    "parent_job_id": "p" * 5000,
    "tags": {"t" * 3000: 1},
    "current_jobs": 10**30,
    "priority": 10**30,
    "limit": -(10**30),
    "confirm": True,
    "refresh_token": "r" * 5000,
    "api_key": "a" * 5000,
}
# Valid for most routes' bodies (unknown keys are ignored), so the call gets as far as the ids it names.
PLAUSIBLE = {
    "queue_name": "q",
    "payload": {},
    "priority": 1,
    "worker_id": "w",
    "error": "e",
    "lease_duration_secs": 30,
    "current_jobs": 0,
    "confirm": True,
    "hostname": "h",
    "name": "Some Name",
    "limit": 5,
    "job_ids": ["j" * 3000],
    "parent_job_id": "p" * 3000,
}
BODIES: list[tuple[str, bytes | None]] = [
    ("plausible", json.dumps(PLAUSIBLE).encode()),
    ("no body", None),
    ("malformed", b'{"queue_name": "q", '),
    ("null", b"null"),
    ("array", b"[1, 2]"),
    ("string", b'"text"'),
    ("number", b"1e999"),
    ("empty object", b"{}"),
    ("not utf-8", b'{"name": "\xff\xfe"}'),
    ("deeply nested", b'{"payload": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("wrong types", json.dumps(WRONG_TYPES).encode()),
    ("out of range", json.dumps(OUT_OF_RANGE).encode()),
    ("huge values", json.dumps(HUGE).encode()),
]
PATH_VALUES = [
    "00000000-0000-0000-0000-000000000000",
    "x" * 3000,
    "..%2F..%2Fetc",
    "ünï#cødé",
    "null",
]
BAD_QUERY = {
    "limit": "-1",
    "offset": "abc",
    "status": "bogus,,pending",
    "ids": ",".join(["x" * 3000] * 3 + [""] * 3),
    "queue_name": "../../x",
    "queue": "a b",
    "tag": "😀" * 100,
    "order_dir": "sideways",
    "older_than": "never",
    "since": "yesterday",
    "is_active": "maybe",
    "delete_jobs": "perhaps",
    "hard_delete": "2",
    "slug": "-" * 300,
    "email": "not-an-email",
}


MAX_PARTITION_KEY_BYTES = 2048  # DynamoDB's limits, which moto checks on writes only
MAX_SORT_KEY_BYTES = 1024


def _key_values(operation: str, params: dict) -> list[tuple[str, dict]]:
    """(attribute, value) of every key a DynamoDB call names, and of a Query's key condition."""
    keys: list[dict] = []
    if "Key" in params:
        keys.append(params["Key"])
    for request in params.get("RequestItems", {}).values():
        keys.extend(request.get("Keys", []) if isinstance(request, dict) else [])
    for item in params.get("TransactItems", []):
        for action in item.values():
            if "Key" in action:
                keys.append(action["Key"])
    found = [(name, value) for key in keys for name, value in key.items()]
    if operation == "Query":
        condition = params.get("KeyConditionExpression", "")
        values = params.get("ExpressionAttributeValues", {})
        found.extend(
            (placeholder, value) for placeholder, value in values.items() if placeholder in condition
        )
    return found


@pytest.fixture
def dynamodb_key_limits(api):
    """Make the shared DynamoDB client refuse oversized keys as DynamoDB does (ValidationException):
    moto accepts a 3,000-byte key on reads, so without this an id from a URL that AWS rejects with
    a 500 would pass here."""
    from botocore.exceptions import ClientError

    from shared.plumbing import aws_clients

    client = aws_clients.client("dynamodb")

    def refuse_oversized_keys(params, model, **_):
        for name, value in _key_values(model.name, params):
            text = value.get("S") if isinstance(value, dict) else None
            if text is None:
                continue
            limit = MAX_SORT_KEY_BYTES if name in ("sk", ":sk") else MAX_PARTITION_KEY_BYTES
            if len(text.encode("utf-8")) > limit:
                error = {
                    "Code": "ValidationException",
                    "Message": f"Size of key {name} exceeds {limit} bytes",
                }
                raise ClientError({"Error": error}, model.name)

    client.meta.events.register("provide-client-params.dynamodb.*", refuse_oversized_keys)
    yield
    client.meta.events.unregister("provide-client-params.dynamodb.*", refuse_oversized_keys)


LONG_QUERY = {name: "z" * 3000 for name in BAD_QUERY}


def _fill(template: str, value: str) -> str:
    return "/".join(value if part.startswith("{") else part for part in template.split("/"))


def _check(response, what: str, problems: list[str]) -> None:
    if response.status >= 500:
        problems.append(f"{what}: {response.status} {response.text[:200]}")
        return
    if not response.headers.get("x-request-id"):
        problems.append(f"{what}: no X-Request-Id")
    if response.status >= 400:
        try:
            body = json.loads(response.text)
        except ValueError:
            problems.append(f"{what}: {response.status} with a non-JSON body {response.text[:100]!r}")
            return
        if not (isinstance(body, dict) and body.get("code") and body.get("message")):
            problems.append(f"{what}: {response.status} without code and message: {response.text[:200]}")


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {t}" for m, t in ROUTES])
def test_no_client_mistake_is_a_server_error(api, dynamodb_key_limits, method, template):
    headers = {"X-Admin-Key": ADMIN_KEY}
    sample_path = _fill(template, PATH_VALUES[0])
    problems: list[str] = []
    for label, body in BODIES:
        response = api.request(method, sample_path, body=body, headers=headers)
        _check(response, f"{method} {sample_path} [{label}]", problems)
    for value in PATH_VALUES[1:]:
        path = _fill(template, value)
        for label, body in (("no body", None), ("plausible", BODIES[0][1])):
            _check(
                api.request(method, path, body=body, headers=headers),
                f"{method} {path[:80]} [{label}]",
                problems,
            )
    for params in (BAD_QUERY, LONG_QUERY):
        response = api.request(method, sample_path, params=params, headers=headers)
        _check(response, f"{method} {template} [query]", problems)
    _check(
        api.request(method, sample_path, headers={"Content-Type": "text/plain"}, body=b"plain words"),
        f"{method} {template} [text/plain]",
        problems,
    )
    _check(api.request(method, sample_path, api_key=None), f"{method} {template} [no key]", problems)
    _check(
        api.request(method, sample_path, api_key="sp_test_" + "z" * 5000),
        f"{method} {template} [absurd key]",
        problems,
    )
    _check(
        api.request(method, sample_path, api_key=None, headers={"Authorization": "Bearer eyJ.bad.jwt"}),
        f"{method} {template} [bad jwt]",
        problems,
    )
    assert not problems, "\n".join(problems)


def test_the_route_table_covers_the_job_and_worker_endpoints():
    # A guard that the parametrisation above really reaches the routes this suite is about.
    templates = {template for _, template in ROUTES}
    for path in (
        "/health",
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/claim",
        "/api/v1/jobs/{id}/complete",
        "/api/v1/jobs/dlq/purge",
        "/api/v1/workers/register",
        "/api/v1/workers/{id}/deregister",
    ):
        assert path in templates
