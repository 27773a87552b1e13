"""Reading IAM out of a synthesized template: statements, and resources rendered as readable text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Resource types whose properties hold identity or resource policy documents.
POLICY_PROPERTIES = {
    "AWS::IAM::Role": ("Policies",),
    "AWS::IAM::Policy": ("PolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::SecretsManager::ResourcePolicy": ("ResourcePolicy",),
}
IDENTITY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """A resource expression as text: {"Fn::GetAtt": ["JobsTable", "Arn"]} -> "JobsTable.Arn"."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), = value.items()
        if function == "Ref":
            return str(argument)
        if function == "Fn::GetAtt":
            return ".".join(as_list(argument))
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


def policy_statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every permission statement of a resource (a role's trust policy is not a permission)."""
    properties = resource.get("Properties", {})
    for key in POLICY_PROPERTIES.get(resource["Type"], ()):
        documents = properties.get(key)
        if documents is None:
            continue
        if key == "Policies":
            documents = [policy["PolicyDocument"] for policy in documents]
        for document in as_list(documents):
            yield from as_list(document["Statement"])


def permissions(resource: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, rendered resource) pairs an identity policy allows."""
    pairs: set[tuple[str, str]] = set()
    for statement in policy_statements(resource):
        assert statement["Effect"] == "Allow", statement
        for action in as_list(statement["Action"]):
            for target in as_list(statement["Resource"]):
                pairs.add((action, render(target)))
    return pairs
