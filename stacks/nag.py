"""cdk-nag 3.x wiring: the rule pack, and acknowledgments that keep their reason next to the cause."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_checks(app: cdk.App) -> None:
    # Findings fail the synth; the report lands in cdk.out/validation-report.json.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Accept one finding (rule id, or rule id with its [finding]) for `construct` and its children.

    The bare id ("AwsSolutions-IAM5[Resource::...]") is what cdk-nag 3.0.2 itself matches; the
    "AwsSolutions::AwsSolutions-..." form the CLI suggests works too, but the bare one reads the
    same in code, in the report and in cdk-nag's documentation.
    """
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))
