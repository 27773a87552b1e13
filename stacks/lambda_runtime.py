"""The one place that says which Python and CPU the Lambda functions run on.

The stack picks the managed runtime from it and scripts/build_lambda_bundle.py asks pip for wheels
of exactly that interpreter and platform, so a runtime bump cannot ship wheels built for another
Python. Plain data: the bundle script imports this without loading the CDK.
"""

from __future__ import annotations

from pathlib import Path

# 3.14 is the newest managed Python runtime in aws-cdk-lib 2.275 and the only one cdk-nag's
# "latest runtime" rule (AwsSolutions-L1) accepts.
PYTHON_VERSION = "3.14"
# arm64 (Graviton) costs ~20% less per GB-second than x86_64 for the same work.
ARCHITECTURE = "arm64"
PIP_PLATFORM = "manylinux2014_aarch64"

REPO_ROOT = Path(__file__).resolve().parent.parent
# Our packages that go into the bundle next to the third-party dependencies.
SOURCE_PACKAGES = ("shared", "functions")
REQUIREMENTS_FILE = REPO_ROOT / "requirements-lambda.txt"
BUNDLE_DIR = REPO_ROOT / "build" / "lambda_bundle"
DEPS_CACHE_DIR = REPO_ROOT / "build" / "lambda_deps"
