"""Which Lambda functions an organization's queues may push jobs to (issue 12, finding 1).

The invoker's IAM role may call every function whose name starts with the deployment's prefix
(context lambda_worker_prefix), for all organizations at once. Without a tie between functions
and organizations, one tenant could name another tenant's worker in its queue settings and have
it run its payloads (and store the result on its own job). So an operator allows functions per
organization through the admin API (PATCH /api/v1/admin/organizations/{id} with
`lambda_functions: [name, ...]`), stored on the organization item, and each function belongs to at
most one organization (a claim item per function name). A queue naming any other function is
refused with 403, and the dispatcher checks again before every pump and invocation, so removing
a function from the list (or soft-deleting the organization) stops its pushes at once.

Keys of this module:
  function claim   pk LAMBDAFN#{function name}   sk LAMBDAFN   org_id = owner
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.identity import expressions as identity_ex
from shared.identity.organizations import is_active, organization_item
from shared.plumbing import aws_clients
from shared.plumbing.aws_clients import is_conditional_failure
from shared.plumbing.errors import AccessDenied, Conflict, NotFound, ValidationFailed

ATTRIBUTE = "lambda_functions"
# A function name, a partial ARN ("123456789012:function:name") or a full ARN, with an optional
# version or alias; the bare name is what an organization owns.
_ARN = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:)?(?:\d{1,12}:)?(?:function:)?"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::[A-Za-z0-9$_-]{1,128})?"
)


def bare_name(function: str) -> str | None:
    """The function's name in any of the forms Lambda accepts, or None if it is no such form."""
    match = _ARN.fullmatch(function)
    return match.group("name") if match else None


def claim_key(name: str) -> dict[str, Any]:
    return {"pk": {"S": f"LAMBDAFN#{name}"}, "sk": {"S": "LAMBDAFN"}}


def claim_function(table: str, name: str, org_id: str) -> dict[str, Any]:
    # Two organizations allowed the same function race on this item: the first owner keeps it,
    # and re-allowing a function the organization already owns is a no-op.
    return {
        "TableName": table,
        "Item": {**claim_key(name), "org_id": {"S": org_id}},
        "ConditionExpression": "attribute_not_exists(pk) OR org_id = :org",
        "ExpressionAttributeValues": {":org": {"S": org_id}},
    }


def release_function(table: str, name: str, org_id: str) -> dict[str, Any]:
    # Only the owner's claim: a stale list must not free another organization's function.
    return {
        "TableName": table,
        "Key": claim_key(name),
        "ConditionExpression": "org_id = :org",
        "ExpressionAttributeValues": {":org": {"S": org_id}},
    }


def replace_allowed(table: str, org: dict[str, Any], functions: list[str]) -> str:
    """Claim the functions newly allowed, release those no longer allowed, and return the value of
    the organization's attribute. A function another organization owns → 409, nothing changed."""
    names: list[str] = []
    for function in functions:
        name = bare_name(function)
        if name is None:
            reason = f"{function!r} is not a Lambda function name or ARN"
            raise ValidationFailed(
                reason, details=[{"field": ATTRIBUTE, "message": reason, "code": "invalid_function"}]
            )
        if name not in names:
            names.append(name)
    db = aws_clients.client("dynamodb")
    before = allowed_of({**org, "plan_tier": None})
    claimed: list[str] = []
    for name in names:
        if name in before:
            continue
        try:
            db.put_item(**claim_function(table, name, org["id"]))
        except Exception as error:
            if not is_conditional_failure(error):
                raise
            for done in claimed:  # undo this call's claims: the list stays as it was
                db.delete_item(**release_function(table, done, org["id"]))
            raise Conflict(f"Lambda function {name!r} is allowed for another organization") from error
        claimed.append(name)
    for name in before - set(names):
        try:
            db.delete_item(**release_function(table, name, org["id"]))
        except Exception as error:
            if not is_conditional_failure(error):
                raise
    return json.dumps(names)


def allow(table: str, org_id: str, functions: list[str]) -> None:
    """Replace the organization's list outright (the local stack's seeded organization)."""
    org = organization_item(table, org_id)
    if org is None:
        raise NotFound()
    value = replace_allowed(table, org, functions)
    aws_clients.client("dynamodb").update_item(
        **identity_ex.update_organization(table, org_id, sets={ATTRIBUTE: value}, now_ms=org["created_at"])
    )


def allowed_of(org: dict[str, Any] | None) -> set[str]:
    """The bare function names an organization item allows (none for a deleted organization)."""
    if not is_active(org):
        return set()
    assert org is not None
    raw = org.get(ATTRIBUTE)
    try:
        names = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return set()
    return {name for name in names or [] if isinstance(name, str)}


def is_allowed(table: str, org_id: str, function: str) -> bool:
    name = bare_name(function)
    return name is not None and name in allowed_of(organization_item(table, org_id))


def require_allowed(table: str, org_id: str, function: str) -> None:
    """403 unless the organization may push jobs to this function."""
    if not is_allowed(table, org_id, function):
        raise AccessDenied(
            f"Lambda function {function!r} is not allowed for this organization: an operator "
            'allows it with PATCH /api/v1/admin/organizations/{id} {"lambda_functions": [...]}'
        )
