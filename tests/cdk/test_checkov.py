"""checkov on the synthesized template: every finding left is acknowledged in stacks/checkov.py,
with its reason and monthly cost, and the acknowledgments are exactly the reviewed ones."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from stacks.checkov import ACKNOWLEDGMENTS
from tests.cdk.conftest import REPO_ROOT, Synthesized

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# How many resources of the default stack each acknowledged check covers. A new line (or a higher
# count) needs a reviewer, like a new cdk-nag acknowledgment in test_stack.py.
EXPECTED_SKIPS = {
    "CKV_AWS_115": 5,  # reserved concurrency: every function but the API's (a parameter there)
    "CKV_AWS_116": 6,  # function dead-letter queues (async invocations only)
    "CKV_AWS_117": 6,  # functions in a VPC (NAT gateway)
    "CKV_AWS_119": 1,  # DynamoDB customer-managed key
    "CKV_AWS_149": 3,  # Secrets Manager customer-managed key
    "CKV_AWS_158": 8,  # log group KMS keys
    "CKV_AWS_173": 6,  # Lambda environment variables KMS key
    "CKV_AWS_174": 1,  # CloudFront viewer TLS (default certificate)
    "CKV_AWS_18": 1,  # S3 access logs
    "CKV_AWS_21": 1,  # S3 versioning
    "CKV_AWS_27": 9,  # SQS KMS key (SSE-SQS is on)
    "CKV_AWS_68": 1,  # WAF
    "CKV_AWS_86": 1,  # CloudFront access logs (would hold ?token=)
}


def _skips(synthesized: Synthesized) -> list[dict[str, str]]:
    return [
        skip
        for resource in synthesized.resources.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def test_acknowledgments_are_the_reviewed_ones(synthesized: Synthesized) -> None:
    assert Counter(skip["id"] for skip in _skips(synthesized)) == EXPECTED_SKIPS
    assert len({a.check for a in ACKNOWLEDGMENTS}) == len(ACKNOWLEDGMENTS)  # one place per check


def test_each_acknowledgment_gives_a_reason_and_a_monthly_cost(synthesized: Synthesized) -> None:
    for skip in _skips(synthesized):
        reason, _, cost = skip["comment"].partition(" Fixing it would cost: ")
        assert len(reason) > 80, skip
        assert "$" in cost, skip


def test_the_api_function_reserves_concurrency_instead(synthesized: Synthesized) -> None:
    _, api = synthesized.by_path("Api/Function/Resource")
    assert "CKV_AWS_115" not in {s["id"] for s in api["Metadata"]["checkov"]["skip"]}


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov's virtualenv is made by `make checkov`")
def test_checkov_finds_nothing_unacknowledged(synthesized: Synthesized, tmp_path: Path) -> None:
    template = tmp_path / "template.json"
    template.write_text(json.dumps(synthesized.template))
    done = subprocess.run(
        [str(CHECKOV), "-f", str(template), "--framework", "cloudformation", "--quiet", "--compact",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["skipped"] == sum(EXPECTED_SKIPS.values())
    assert summary["passed"] > 100
