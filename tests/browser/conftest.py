"""The dashboard in a real browser: Debian's chromium driven by Playwright (PyPI).

Playwright's own browser download does not work on these machines, so the test launches
/usr/bin/chromium (`make test` / `make chromium` apt-installs it when missing). The local stack runs
as a subprocess, as `make dev` runs it (local_stack/subprocess_runner.py). Screenshots go to
tests/artifacts/ (ignored by git), also when a step fails.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local_stack.subprocess_runner import LocalStackProcess, StackStartError, tail

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("SPOOLED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where chromium's sandbox refuses to start
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DEV_API_KEY = "sp_test_browser_0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Stack:
    base_url: str
    api_key: str
    log_path: Path


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_path = tmp_path_factory.mktemp("browser_stack") / "output.log"
    process = LocalStackProcess(log_path, {"SPOOLED_DEV_API_KEY": DEV_API_KEY}, startup_seconds=60.0)
    try:
        process.start()
    except StackStartError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield Stack(process.base_url, DEV_API_KEY, log_path)
    finally:
        # A clean stop is the e2e suite's to check (tests/e2e/conftest.py); here a slow one, on a
        # loaded machine, is killed and only reported, not a failure of the page.
        if process.stop(timeout=30) is None:
            warnings.warn(
                f"the local stack was killed after 30 s of SIGTERM:\n{tail(log_path)}", stacklevel=1
            )


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh tab that records console errors and CSP violations, and leaves a screenshot behind."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.problems = problems
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        tab.screenshot(path=str(ARTIFACTS / f"{name}-last.png"), full_page=True)
    finally:
        context.close()
