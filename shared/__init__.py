"""The domain core every Lambda function uses: one package per domain over a plumbing layer.

Layers, top to bottom (imports point down only; pyproject.toml's import-linter contracts):
operations > schedules | workflows | webhooks | live > jobs > identity > plumbing.
The map, one line per package, opens docs/architecture.md.
"""
