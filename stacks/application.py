"""Build the CDK app: the stack plus the cdk-nag checks and the checkov acknowledgments. app.py and
tests/cdk both start here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk

from stacks.checkov import CheckovAcknowledgments
from stacks.config import StackConfig
from stacks.nag import add_checks
from stacks.spooled_stack import SpooledStack

DEFAULT_STACK_NAME = "Spooled"


def build_app(
    *, context: Mapping[str, Any] | None = None, outdir: str | None = None
) -> tuple[cdk.App, SpooledStack]:
    # The CDK CLI passes cdk.json's context through the environment; tests pass it explicitly.
    app = cdk.App(context=dict(context) if context else None, outdir=outdir)
    add_checks(app)
    stack_name = app.node.try_get_context("stack_name") or DEFAULT_STACK_NAME
    stack = SpooledStack(
        app,
        stack_name,
        config=StackConfig.from_context(app.node),
        description="Spooled job queue and webhook service (serverless)",
        # Environment-agnostic: synth needs no credentials or lookups; `cdk deploy` picks the
        # account and region of the caller's AWS profile.
    )
    # checkov's remaining findings, acknowledged in the template's Metadata (stacks/checkov.py).
    cdk.Aspects.of(stack).add(CheckovAcknowledgments())
    return app, stack
