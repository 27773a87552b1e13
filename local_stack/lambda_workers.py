"""Lambda workers in `make dev`: function names mapped to Python callables, called in-process.

On AWS a queue's lambda_worker names a deployed function and the invoker calls it with
lambda:InvokeFunction; here the same name is looked up in this registry, so the example worker
(and your own) runs without Docker or an AWS account. The registry holds the examples by default;
add more with SPOOLED_LOCAL_LAMBDA_FUNCTIONS="name=package.module:function,other=pkg.mod:fn".
"""

from __future__ import annotations

import importlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.jobs.workers.lambda_workers import Outcome

LambdaFunction = Callable[[dict[str, Any], Any], Any]

EXAMPLES = {
    "spooled-example-worker": "examples.lambda_worker.handler:handler",
    "spooled-example-failing-worker": "examples.lambda_worker.handler:failing_handler",
}
ENV_VAR = "SPOOLED_LOCAL_LAMBDA_FUNCTIONS"
DEFAULT_TIMEOUT_MS = 900_000


def parse_mapping(text: str) -> dict[str, str]:
    """ "a=pkg.mod:fn,b=pkg.mod:other" → {"a": "pkg.mod:fn", "b": "pkg.mod:other"}."""
    mapping: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, target = entry.partition("=")
        if not sep or ":" not in target or not name.strip():
            raise ValueError(f"{ENV_VAR}: expected name=module:function, got {entry!r}")
        mapping[name.strip()] = target.strip()
    return mapping


def registered_names() -> list[str]:
    """The function names `make dev` can call: the examples and SPOOLED_LOCAL_LAMBDA_FUNCTIONS."""
    return list({**EXAMPLES, **parse_mapping(os.environ.get(ENV_VAR, ""))})


def load(target: str) -> LambdaFunction:
    module_name, _, attribute = target.partition(":")
    function = getattr(importlib.import_module(module_name), attribute)
    if not callable(function):
        raise TypeError(f"{target} is not callable")
    return function


@dataclass
class LocalContext:
    """The parts of Lambda's context object handlers commonly read."""

    function_name: str
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self._started) * 1000))


class LocalFunctions:
    """A FunctionInvoker (shared/jobs/workers/lambda_workers.py) over registered callables."""

    def __init__(self, functions: dict[str, LambdaFunction | str] | None = None) -> None:
        configured: dict[str, LambdaFunction | str] = {
            **EXAMPLES,
            **parse_mapping(os.environ.get(ENV_VAR, "")),
        }
        self._functions: dict[str, LambdaFunction | str] = {**configured, **(functions or {})}

    def register(self, name: str, function: LambdaFunction | str) -> None:
        self._functions[name] = function

    def resolve(self, name: str) -> LambdaFunction:
        target = self._functions.get(name)
        if target is None:
            # What Lambda answers for an unknown function; the job fails its attempt with it.
            raise LookupError(f"ResourceNotFoundException: Function not found: {name}")
        if isinstance(target, str):
            target = load(target)
            self._functions[name] = target
        return target

    def invoke(self, function_name: str, event: dict[str, Any]) -> Outcome:
        function = self.resolve(function_name)
        # Through JSON both ways, as Lambda passes them: no shared objects, nothing unserializable.
        request = json.loads(json.dumps(event))
        try:
            result = function(request, LocalContext(function_name))
        except Exception as error:
            return Outcome(False, error=f"{type(error).__name__}: {error}")
        try:
            return Outcome(True, result=json.loads(json.dumps(result)))
        except (TypeError, ValueError) as error:
            return Outcome(False, error=f"Runtime.MarshalError: Unable to marshal response: {error}")
