"""python -m scripts.openapi [--check]: write functions/api/openapi.json, or fail if it is stale."""

from __future__ import annotations

import sys

from scripts.openapi.generate import OUTPUT, REPO_ROOT, build, render


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(REPO_ROOT)} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"openapi: {OUTPUT.relative_to(REPO_ROOT)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
