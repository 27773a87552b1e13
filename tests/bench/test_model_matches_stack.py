"""The cost model's deployment figures are the stack's: read from stacks/ without loading the CDK."""

from __future__ import annotations

import ast
from pathlib import Path

from bench import cost_model
from stacks import lambda_runtime

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def _module(name: str) -> ast.Module:
    return ast.parse((STACKS / name).read_text())


def _constant(module: ast.Module, name: str) -> object:
    for node in module.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found")


def test_event_source_batch_sizes() -> None:
    dispatcher = _module("dispatcher.py")
    assert _constant(dispatcher, "STREAM_BATCH_SIZE") == cost_model.STREAM_BATCH_SIZE
    assert _constant(dispatcher, "QUEUE_BATCH_SIZE") == cost_model.QUEUE_BATCH_SIZE


def test_lambda_memory_and_architecture() -> None:
    init = next(
        node
        for node in ast.walk(_module("functions.py"))
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
    )
    names = [a.arg for a in init.args.kwonlyargs]
    default = init.args.kw_defaults[names.index("memory_size")]
    assert default is not None and ast.literal_eval(default) == cost_model.LAMBDA_MEMORY_MB
    for path in STACKS.glob("*.py"):  # no function is given other memory than the default
        assert "memory_size=" not in path.read_text() or path.name == "functions.py", path.name
    assert lambda_runtime.ARCHITECTURE == cost_model.LAMBDA_ARCHITECTURE
