"""The Lambda bundle: wheels for the Lambda interpreter and CPU, our packages, nothing from this host."""

from __future__ import annotations

from pathlib import Path

from scripts.build_lambda_bundle import dependencies_key, install_dependencies
from stacks.lambda_runtime import PYTHON_VERSION, SOURCE_PACKAGES

CPYTHON_TAG = "cpython-" + PYTHON_VERSION.replace(".", "")


def test_bundle_holds_our_packages_without_bytecode(lambda_bundle: Path) -> None:
    for package in SOURCE_PACKAGES:
        assert (lambda_bundle / package / "__init__.py").is_file()
    assert (lambda_bundle / "shared" / "plumbing" / "schema.py").is_file()
    assert not list(lambda_bundle.rglob("__pycache__"))
    assert not (lambda_bundle / "bin").exists()  # console scripts name this machine's interpreter
    assert not (lambda_bundle / "boto3").exists()  # the runtime provides it


def test_compiled_wheels_target_the_lambda_runtime(lambda_bundle: Path) -> None:
    extensions = list(lambda_bundle.rglob("*.so"))
    assert extensions, "pydantic-core should bring a compiled extension"
    for extension in extensions:
        assert CPYTHON_TAG in extension.name and "aarch64" in extension.name, extension.name


def test_dependencies_are_cached_by_requirements_content(lambda_bundle: Path, tmp_path: Path) -> None:
    # The session fixture already installed them: asking again must not run pip.
    _, installed = install_dependencies()
    assert installed is False
    a = tmp_path / "a.txt"
    a.write_text("pydantic==2.14.4\n")
    b = tmp_path / "b.txt"
    b.write_text("pydantic==2.14.3\n")
    assert dependencies_key(a) != dependencies_key(b)
    assert dependencies_key(a) == dependencies_key(a)
