"""examples/quickstart.py, run the way the README tells a user to run it."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from types import ModuleType

import pytest
from spooled import SpooledClient
from spooled.worker.types import JobContext

from tests.e2e.conftest import REPO_ROOT, RunningStack

pytestmark = pytest.mark.e2e

QUICKSTART = REPO_ROOT / "examples" / "quickstart.py"


def _load_quickstart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quickstart", QUICKSTART)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_completes_its_job_with_the_handlers_result(
    local_stack: RunningStack, client: SpooledClient
) -> None:
    env = {**os.environ, "SPOOLED_BASE_URL": local_stack.base_url, "SPOOLED_API_KEY": local_stack.api_key}
    run = subprocess.run(
        [sys.executable, str(QUICKSTART)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"

    created = re.search(r"^created job (\S+) on queue 'emails'$", run.stdout, re.MULTILINE)
    assert created, run.stdout
    job = client.jobs.get(created.group(1))
    assert job.status == "completed"
    assert job.queue_name == "emails"

    # The stored result is what the example's own handler returns for the job it created.
    handler = _load_quickstart().send_welcome_email
    context = JobContext(
        job_id=job.id,
        queue_name=job.queue_name,
        payload=job.payload,
        retry_count=job.retry_count,
        max_retries=job.max_retries,
        signal=threading.Event(),
    )
    assert job.result == handler(context)
    printed = re.search(rf"^job {job.id} completed with result (.+)$", run.stdout, re.MULTILINE)
    assert printed, run.stdout
    assert json.loads(printed.group(1)) == job.result


def test_quickstart_without_an_api_key_explains_itself(local_stack: RunningStack) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPOOLED_API_KEY"}
    env["SPOOLED_BASE_URL"] = local_stack.base_url
    run = subprocess.run(
        [sys.executable, str(QUICKSTART)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert "SPOOLED_API_KEY" in run.stderr
