"""Organization slug rules and slugs made from names (shared/identity/slugs.py)."""

from __future__ import annotations

import random
import re

import pytest

from shared.identity import slugs


@pytest.mark.parametrize(
    ("slug", "ok"),
    [
        ("acme", True),
        ("acme-corp-2", True),
        ("a1b", True),
        ("ab", False),  # too short
        ("a" * 51, False),  # too long
        ("-acme", False),
        ("acme-", False),
        ("Acme", False),
        ("acme_corp", False),
        ("acme corp", False),
        ("admin", False),  # reserved
        ("www", False),
        ("metrics", False),
        ("admins", True),  # only the exact words are reserved
    ],
)
def test_problem(slug: str, ok: bool) -> None:
    assert (slugs.problem(slug) is None) is ok


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Corporation", "acme-corporation"),
        ("  Acme   & Sons, Ltd.  ", "acme-sons-ltd"),
        ("42 Robots", "org-42-robots"),
        ("Ünïcödé Café", "n-c-d-caf"),
        ("x", "org-x"),
        ("!!!", "org"),
        ("Admin", "org-admin"),
        ("a" * 120, "a" * 50),
    ],
)
def test_from_name(name: str, slug: str) -> None:
    assert slugs.from_name(name) == slug
    assert slugs.problem(slugs.from_name(name)) is None


@pytest.mark.parametrize("base", ["acme", "a" * 50, "org-42-robots"])
def test_with_suffix_stays_a_valid_slug(base: str) -> None:
    rng = random.Random(3)
    variants = {slugs.with_suffix(base, rng) for _ in range(20)}
    assert len(variants) == 20
    for variant in variants:
        assert slugs.problem(variant) is None
        assert re.fullmatch(r".+-[a-z0-9]{6}", variant)
