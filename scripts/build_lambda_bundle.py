"""Fill build/lambda_bundle/ with everything the Lambda functions import, without Docker.

The CDK stack deploys that folder as is (`Code.from_asset`), so this runs before every synth
(`make synth`, `make deploy`, and once per test session in tests/cdk/conftest.py).

Third-party wheels come from pip for the Lambda interpreter and CPU (stacks/lambda_runtime.py),
not for this machine. They are cached under build/lambda_deps/<key>, where the key hashes the
requirements file together with the target interpreter and platform: a second run with unchanged
requirements only copies files, and a runtime bump cannot reuse wheels built for another Python.

Usage: python -m scripts.build_lambda_bundle
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file (python scripts/build_lambda_bundle.py): make the repository importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.lambda_runtime import (
    BUNDLE_DIR,
    DEPS_CACHE_DIR,
    PIP_PLATFORM,
    PYTHON_VERSION,
    REPO_ROOT,
    REQUIREMENTS_FILE,
    SOURCE_PACKAGES,
)

# Byte code is compiled by the runtime itself; __pycache__ from this machine is for Python 3.11.
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
# Static files the API Lambda serves (functions/api/routes_dashboard_ui.py), without their tests.
STATIC_FOLDERS = ("dashboard_ui",)
_IGNORE_STATIC = shutil.ignore_patterns("tests", "package.json", "node_modules")


def dependencies_key(requirements: Path = REQUIREMENTS_FILE) -> str:
    digest = hashlib.sha256()
    digest.update(f"cp{PYTHON_VERSION}|{PIP_PLATFORM}\n".encode())
    digest.update(requirements.read_bytes())
    return digest.hexdigest()[:16]


def install_dependencies(
    requirements: Path = REQUIREMENTS_FILE, cache_root: Path = DEPS_CACHE_DIR
) -> tuple[Path, bool]:
    """Return the folder holding the installed wheels and whether pip had to run."""
    target = cache_root / dependencies_key(requirements)
    if target.is_dir():
        return target, False
    cache_root.mkdir(parents=True, exist_ok=True)
    # Install beside the cache entry and rename at the end: an interrupted pip never leaves a
    # half-filled folder that a later run would take for a complete one.
    partial = cache_root / f"{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check",
        "--platform", PIP_PLATFORM,
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--target", str(partial),
        "-r", str(requirements),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True)
        # Console scripts are useless in Lambda, and their shebang names this machine's
        # interpreter, which would make the asset hash differ from one checkout to another.
        shutil.rmtree(partial / "bin", ignore_errors=True)
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent run that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target, True


def copy_vendor_assets(target: Path, node_modules: Path) -> None:
    """The npm files the API serves (functions/api/vendor_assets.py), with their licences."""
    from functions.api import vendor_assets

    target.mkdir(parents=True, exist_ok=True)
    for name, package_path in {**vendor_assets.FILES, **vendor_assets.LICENSES}.items():
        source = node_modules / package_path
        if not source.is_file():
            raise SystemExit(f"{source} is missing: run `npm ci` (make does it) before bundling")
        shutil.copyfile(source, target / name)


def openapi_text() -> str:
    from scripts.openapi.generate import build, render

    return render(build())


def build_bundle(bundle_dir: Path = BUNDLE_DIR, repo_root: Path = REPO_ROOT) -> Path:
    """(Re)build the asset folder from the cached dependencies and the current sources."""
    dependencies, _ = install_dependencies()
    staging = bundle_dir.with_name(f"{bundle_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(dependencies, staging)
        for package in SOURCE_PACKAGES:
            shutil.copytree(repo_root / package, staging / package, ignore=_IGNORE)
        for folder in STATIC_FOLDERS:
            shutil.copytree(repo_root / folder, staging / folder, ignore=_IGNORE_STATIC)
        copy_vendor_assets(staging / "vendor", repo_root / "node_modules")
        # The served document is generated from the sources being bundled, so it cannot be stale
        # even when the committed copy is (tests/unit/api/test_openapi.py fails on that too).
        (staging / "functions" / "api" / "openapi.json").write_text(openapi_text(), encoding="utf-8")
        # Swap in the finished folder so a synth never sees a bundle without our packages.
        shutil.rmtree(bundle_dir, ignore_errors=True)
        staging.rename(bundle_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bundle_dir


def main() -> int:
    started = time.monotonic()
    _, installed = install_dependencies()
    bundle = build_bundle()
    source = "installed" if installed else "cached"
    elapsed = time.monotonic() - started
    print(
        f"lambda bundle: {bundle.relative_to(REPO_ROOT)} "
        f"(cp{PYTHON_VERSION} {PIP_PLATFORM}, dependencies {source}, {elapsed:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
