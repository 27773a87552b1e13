"""Orphaned payload objects expire; live ones never do (issue 16, "Smaller").

An object is written tagged `spooled-state=uncommitted` and re-tagged `committed` once the item
that points at it is written (shared/plumbing/payload_store.py; tests/functional/plumbing/
test_payload_objects.py shows which objects end in which state). The bucket's lifecycle rule is
what turns that tag into an expiry; these checks pin it, and the grants the tagging needs.
"""

from __future__ import annotations

from typing import Any

from shared.plumbing import schema
from tests.cdk.conftest import Synthesized
from tests.cdk.template_tools import permissions

# Spelled out rather than read from schema.py: a change to the tag must change this test too, and
# the functional test pins the code to the same pair.
ORPHAN_RULE = {
    "Id": "ExpireUncommittedObjects",
    "Status": "Enabled",
    "TagFilters": [{"Key": "spooled-state", "Value": "uncommitted"}],
    "ExpirationInDays": 1,
}
ABORT_RULE = {
    "Id": "AbortIncompleteUploads",
    "Status": "Enabled",
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}
# The functions whose code writes payload or result objects (tests/cdk/test_function_actions.py
# derives that from their code).
WRITERS = ("Api", "Dispatcher", "LambdaInvoker", "Scheduler")


def _rules(synthesized: Synthesized, definition: schema.BucketDefinition) -> list[dict[str, Any]]:
    return list(synthesized.resources[definition.logical_id]["Properties"]["LifecycleConfiguration"]["Rules"])


def test_the_bucket_expires_uncommitted_objects_and_aborts_uploads_after_a_day(
    synthesized: Synthesized,
) -> None:
    for definition in schema.BUCKETS:
        assert sorted(_rules(synthesized, definition), key=lambda rule: rule["Id"]) == [
            ABORT_RULE,
            ORPHAN_RULE,
        ]


def test_only_the_tagged_objects_expire(synthesized: Synthesized) -> None:
    """No rule expires by age alone, moves objects to another storage class (a per-object fee) or
    touches versions: a live payload, re-tagged committed, stays as long as its job."""
    for definition in schema.BUCKETS:
        for rule in _rules(synthesized, definition):
            assert not {
                "Transitions",
                "Transition",
                "NoncurrentVersionExpiration",
                "ExpiredObjectDeleteMarker",
            } & set(rule)
            if "ExpirationInDays" in rule or "ExpirationDate" in rule:
                assert rule["TagFilters"] == [{"Key": "spooled-state", "Value": "uncommitted"}], rule
                assert "Prefix" not in rule  # every object of the bucket, whatever its prefix


def test_every_writer_may_tag_exactly_what_it_may_write(synthesized: Synthesized) -> None:
    """PutObject with tags is also authorized as s3:PutObjectTagging, and commit() re-tags: a role
    that could write an object it cannot tag would answer AccessDenied on every large payload."""
    tagging_roles = set()
    for resource in synthesized.of_type("AWS::IAM::Role").values():
        granted = permissions(resource)
        puts = {target for action, target in granted if action == "s3:PutObject"}
        tags = {target for action, target in granted if action == "s3:PutObjectTagging"}
        assert puts == tags, resource["Metadata"]["aws:cdk:path"]
        if tags:
            tagging_roles.add(resource["Metadata"]["aws:cdk:path"].split("/")[1])
    assert tagging_roles == set(WRITERS)
