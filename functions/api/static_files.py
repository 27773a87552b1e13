"""Static text files served from memory (the dashboard's HTML, scripts and styles).

A folder is read once per process. Only top-level files with a known type and a plain name are
served: the set of servable names is fixed by what the folder holds, so no request path can reach
anything else (no subfolders, no dot files, no `..`). Each file carries a strong ETag, so a
browser revalidates with If-None-Match and gets a 304 instead of the file again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_PLAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css)$")


@dataclass(frozen=True)
class StaticFile:
    name: str
    content_type: str
    text: str
    etag: str


def load_folder(folder: Path) -> dict[str, StaticFile]:
    """Every servable file of `folder` by name; empty when the folder does not exist."""
    if not folder.is_dir():
        return {}
    files: dict[str, StaticFile] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not _PLAIN_NAME.fullmatch(path.name):
            continue
        data = path.read_bytes()
        files[path.name] = StaticFile(
            name=path.name,
            content_type=CONTENT_TYPES[path.suffix],
            text=data.decode("utf-8"),
            etag='"' + hashlib.sha256(data).hexdigest()[:32] + '"',
        )
    return files


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match uses: `*`, or any listed tag, W/ or not."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
