"""Organization slugs (contract §2.13): the rules, and slugs made from names. Pure functions."""

from __future__ import annotations

import random
import re

MIN_LENGTH = 3
MAX_LENGTH = 50
SUFFIX_LENGTH = 6
RESERVED = frozenset(
    {
        "admin",
        "api",
        "app",
        "auth",
        "dashboard",
        "docs",
        "help",
        "internal",
        "login",
        "logout",
        "metrics",
        "root",
        "settings",
        "signup",
        "status",
        "support",
        "system",
        "test",
        "www",
    }
)
_VALID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def problem(slug: str) -> str | None:
    """Why `slug` cannot be used, or None when it can."""
    if not MIN_LENGTH <= len(slug) <= MAX_LENGTH:
        return f"Slug must be {MIN_LENGTH}-{MAX_LENGTH} characters"
    if not _VALID.fullmatch(slug):
        return "Slug may contain only a-z, 0-9 and '-', and may not start or end with '-'"
    if slug in RESERVED:
        return "This slug is reserved"
    return None


def from_name(name: str) -> str:
    """lower-case, every run of other characters → '-', 'org-' before a leading digit, ≤ 50 chars."""
    slug = _NOT_ALNUM.sub("-", name.lower()).strip("-")
    if slug[:1].isdigit():
        slug = f"org-{slug}"
    slug = slug[:MAX_LENGTH].rstrip("-")
    if len(slug) < MIN_LENGTH or slug in RESERVED:
        slug = f"org-{slug}".rstrip("-") if slug else "org"
    return slug if len(slug) >= MIN_LENGTH else "org"


def with_suffix(slug: str, rng: random.Random) -> str:
    """`slug` with a random '-xxxxxx' suffix, still within the length limit."""
    suffix = "".join(rng.choice(_ALPHABET) for _ in range(SUFFIX_LENGTH))
    base = slug[: MAX_LENGTH - SUFFIX_LENGTH - 1].rstrip("-")
    return f"{base}-{suffix}"
