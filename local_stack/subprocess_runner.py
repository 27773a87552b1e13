"""`python -m local_stack` (what `make dev` runs) as a child process, for the e2e tests and the
benchmarks: started on a free port with a clean environment, ready once it has announced itself and
answers GET /health, stopped with SIGTERM like a user's Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Offline credentials, set here rather than inherited from whatever shell runs the child.
OFFLINE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
# Nothing of the service's or AWS's configuration leaks in from the parent (an in-process
# LocalStack writes its endpoint and table names into os.environ).
DROPPED_PREFIXES = ("AWS_", "SPOOLED_", "QUEUE_DEFAULT_")


class StackStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 200) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output captured)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _health_answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class LocalStackProcess:
    def __init__(self, log_path: Path, settings: dict[str, str], startup_seconds: float = 60.0) -> None:
        self.log_path = log_path
        self.settings = settings  # e.g. SPOOLED_DEV_API_KEY, SPOOLED_ADMIN_KEY
        self.startup_seconds = startup_seconds
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def _environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
        fixed = {"PYTHONUNBUFFERED": "1", "PORT": str(self.port)}
        return {**inherited, **OFFLINE_AWS_ENV, **fixed, **self.settings}

    def _announced(self) -> bool:
        # The banner proves the port is ours: were it taken meanwhile, /health could answer for
        # some other process while ours failed to bind.
        try:
            return f"Spooled local stack on {self.base_url}" in self.log_path.read_text(errors="replace")
        except OSError:
            return False

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local_stack"],
                cwd=REPO_ROOT,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.startup_seconds
        while not (self._announced() and _health_answers(self.base_url)):
            problem = None
            if self.process.poll() is not None:
                problem = f"exited with code {self.process.returncode} before answering GET /health"
            elif time.monotonic() > deadline:
                problem = f"did not answer GET /health within {self.startup_seconds:.0f} s"
            if problem:
                self.kill()
                raise StackStartError(f"the local stack {problem}:\n{tail(self.log_path)}")
            time.sleep(0.1)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait: the exit code, or None when it had to be killed after `timeout`."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.running and self.process is not None:
            self.process.kill()
            self.process.wait()
