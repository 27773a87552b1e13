"""cfn-lint on the synthesized template: no errors, and no warnings but the explained ones."""

from __future__ import annotations

import json

from cfnlint.api import ManualArgs, lint

from tests.cdk.conftest import Synthesized

# W3005 "dependency already enforced by a GetAtt": CDK adds an explicit DependsOn from each
# function to its role (Function always depends on its role) although the Role property's GetAtt
# already orders them. Redundant, harmless, and not ours to remove.
EXPLAINED_WARNINGS = {"W3005"}
# Regions the stack is deployed to in practice; cfn-lint checks resource availability per region.
REGIONS = ["us-east-1", "eu-west-1"]


def test_template_passes_cfn_lint(synthesized: Synthesized) -> None:
    matches = lint(json.dumps(synthesized.template), config=ManualArgs(regions=REGIONS))
    unexplained = [
        f"{m.rule.id} {m.message} (line {m.linenumber})"
        for m in matches
        if m.rule.id not in EXPLAINED_WARNINGS
    ]
    assert not unexplained, "\n".join(unexplained)
    # The explained ones are warnings, never errors.
    assert all(m.rule.id.startswith("W") for m in matches)
