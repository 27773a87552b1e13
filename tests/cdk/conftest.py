"""One synth of the real app (cdk.json context, cdk-nag on) per test session, shared by every module.

(`switched` is one more, with every context switch turned the other way: no front door, the
account's API Gateway logging role owned by the stack, an alarm e-mail address (SNS topic), per-queue
metrics.)

Starting jsii costs 3-14 s per process and a synth ~4 s more, so the modules here read one
template instead of building their own. The Lambda bundle is (re)built once first; with the
dependency cache warm that is a file copy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Before aws_cdk is imported anywhere: these are read when the jsii runtime starts.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

REPO_ROOT = Path(__file__).resolve().parents[2]
ALARM_EMAIL = "ops@example.com"  # the `switched` synth's -c alarm_email


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cdk)


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stack_name: str
    template: dict[str, Any]  # the CloudFormation JSON, as deployed
    assertions: Any  # aws_cdk.assertions.Template over the same JSON

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def by_path(self, suffix: str) -> tuple[str, dict[str, Any]]:
        """The one resource whose construct path ends with `suffix` (e.g. "Api/Role/Resource")."""
        found = [
            (logical_id, resource)
            for logical_id, resource in self.resources.items()
            if resource.get("Metadata", {}).get("aws:cdk:path", "").endswith("/" + suffix)
        ]
        assert len(found) == 1, f"{suffix}: {[f[0] for f in found]}"
        return found[0]


@pytest.fixture(scope="session")
def lambda_bundle() -> Path:
    from scripts.build_lambda_bundle import build_bundle

    return build_bundle()


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    # The same context (feature flags included) the CDK CLI hands to app.py, plus the metadata
    # switches the CLI turns on: construct paths are how these tests find resources.
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return {**context, "aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    """Synthesize the real app with this context (cdk-nag on); fail the test with nag's report."""
    from aws_cdk.assertions import Template

    from stacks.application import build_app

    app, stack = build_app(context=context, outdir=str(outdir))
    try:
        assembly = app.synth()
    except RuntimeError as error:  # cdk-nag findings fail the synth; show the report
        report = outdir / "validation-report.json"
        details = report.read_text() if report.exists() else ""
        pytest.fail(f"synth failed: {error}\n{details}")
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synthesized(
        outdir=outdir,
        stack_name=stack.stack_name,
        template=template,
        assertions=Template.from_json(template),
    )


@pytest.fixture(scope="session")
def synthesized(
    lambda_bundle: Path, cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Synthesized]:
    yield synthesize(cdk_context, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def switched(
    lambda_bundle: Path, cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    # The one extra synth of the session: each context switch away from its default at once.
    context = {
        **cdk_context,
        "front_door": False,
        "apigateway_cloudwatch_role": True,
        "alarm_email": ALARM_EMAIL,
        "metrics_per_queue": True,
    }
    return synthesize(context, tmp_path_factory.mktemp("cdk.out.switched"))
