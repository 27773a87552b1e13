"""Issue 12's stack findings: the per-address rate limit at the edge (context waf_rate_limit), the
origin token that lets the API trust CloudFront-Viewer-Address, and the webhook-sender and
live-updates roles writing only their own item types (dynamodb:LeadingKeys).

One synth of its own: the real app with a web ACL (cdk-nag on, so the stack stays clean with it);
the roles and the front door are the same as in the default template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from stacks.roles import LIVE_UPDATES_WRITES, WEBHOOK_SENDER_WRITES
from tests.cdk.conftest import Synthesized, synthesize

WAF_LIMIT = 2_000


@pytest.fixture(scope="module")
def with_waf(
    lambda_bundle: Path, cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    return synthesize({**cdk_context, "waf_rate_limit": WAF_LIMIT}, tmp_path_factory.mktemp("cdk.out.waf"))


def _statements(synthesized: Synthesized, role_path: str) -> list[dict[str, Any]]:
    _, role = synthesized.by_path(f"{role_path}/Role/Resource")
    found: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        found.extend(policy["PolicyDocument"]["Statement"])
    return found


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


@pytest.mark.parametrize(
    ("role_path", "prefixes"), [("Webhooks", WEBHOOK_SENDER_WRITES), ("LiveUpdates", LIVE_UPDATES_WRITES)]
)
def test_the_webhook_sender_and_live_updates_write_only_their_item_types(
    with_waf: Synthesized, role_path: str, prefixes: tuple[str, ...]
) -> None:
    writing = [s for s in _statements(with_waf, role_path) if _actions(s) & WRITES]
    assert writing, role_path
    for statement in writing:
        assert _actions(statement) & WRITES == WRITES
        condition = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert sorted(condition) == sorted(f"{prefix}*" for prefix in prefixes)
    assert "JOB#" not in str(prefixes) and "APIKEY#" not in str(WEBHOOK_SENDER_WRITES)


def test_the_api_and_dispatcher_keep_unconditioned_writes(with_waf: Synthesized) -> None:
    for role_path in ("Api", "Dispatcher"):
        writing = [s for s in _statements(with_waf, role_path) if _actions(s) & WRITES]
        assert writing and all("Condition" not in s for s in writing), role_path


def test_a_rate_based_web_acl_guards_the_distribution(with_waf: Synthesized) -> None:
    ((acl_id, acl),) = with_waf.of_type("AWS::WAFv2::WebACL").items()
    properties = acl["Properties"]
    assert properties["Scope"] == "CLOUDFRONT" and properties["DefaultAction"] == {"Allow": {}}
    (rule,) = properties["Rules"]
    assert rule["Action"] == {"Block": {}}
    statement = rule["Statement"]["RateBasedStatement"]
    assert (statement["AggregateKeyType"], statement["Limit"]) == ("IP", WAF_LIMIT)
    ((_, distribution),) = with_waf.of_type("AWS::CloudFront::Distribution").items()
    assert distribution["Properties"]["DistributionConfig"]["WebACLId"] == {"Fn::GetAtt": [acl_id, "Arn"]}


def test_no_web_acl_without_the_flag(synthesized: Synthesized) -> None:
    assert synthesized.of_type("AWS::WAFv2::WebACL") == {}


def test_the_api_trusts_the_viewer_address_only_with_the_distributions_token(with_waf: Synthesized) -> None:
    _, function = with_waf.by_path("Api/Function/Resource")
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["SPOOLED_FRONT_DOOR"] == "true"
    token = variables["SPOOLED_EDGE_TOKEN"]
    # The stack's own UUID (the last part of its id): not a value written in the code.
    assert token == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    ((_, distribution),) = with_waf.of_type("AWS::CloudFront::Distribution").items()
    for origin in distribution["Properties"]["DistributionConfig"]["Origins"]:
        headers = {h["HeaderName"]: h["HeaderValue"] for h in origin["OriginCustomHeaders"]}
        assert headers == {"X-Spooled-Edge": token}


def test_the_template_with_a_web_acl_passes_cfn_lint(with_waf: Synthesized) -> None:
    from tests.cdk.test_cfn_lint import EXPLAINED_WARNINGS, REGIONS

    matches = lint(json.dumps(with_waf.template), config=ManualArgs(regions=REGIONS))
    unexplained = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in EXPLAINED_WARNINGS]
    assert not unexplained, "\n".join(unexplained)
