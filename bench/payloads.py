"""The payload classes a job lifecycle is measured with (docs/benchmarks.md).

- tiny: a ~100-byte application payload (an id, a kind, a flag);
- realistic_1kb: 1 KB of JSON with varied realistic values from a seeded generator (ids, e-mails,
  amounts, timestamps, text), so compression is credited only with what real JSON gives it;
- incompressible_1kb: 1 KB of random base64 (compresses to nothing useful);
- github: the real GitHub webhook deliveries of ../shared/payload-corpus/github/ (6-24 KB), found
  beside the repository checkout (the corpus is shared between checkouts, not part of the repo), one
  job per file in turn; the figure is the mean over the files. When the corpus is not there the
  class is left out and the report says so (CORPUS_MISSING), rather than measuring something else.

Every generator is deterministic: job n of a class is the same on every run.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

Payload = dict[str, Any]
PayloadFactory = Callable[[int], Payload]  # job number -> payload
TARGET_BYTES = 1024
REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/payload-corpus relative to the repository root: every checkout (main, worktrees) sits
# beside the one shared corpus.
CORPUS = REPO_ROOT.parent / "shared" / "payload-corpus" / "github"

_FIRST = "ana bruno chloe dmitri elena farid grace hiro ines jonas kemi liam".split()  # noqa: SIM905
_LAST = "alvarez berg chen dubois eze fischer gupta haddad ito jansen kowalski".split()  # noqa: SIM905
_DOMAINS = ("example.com", "mail.example.org", "acme.io", "contoso.net", "globex.co.uk")
_WORDS_TEXT = (
    "invoice order shipment refund customer account payment renewal subscription warehouse parcel "
    "delivered delayed pending approved rejected review priority express standard coupon discount "
    "tracking address billing region supplier quarterly report export import sync retry notice"
)
_WORDS = _WORDS_TEXT.split()
_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF")


def compact(payload: Payload) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def tiny(n: int) -> Payload:
    rng = random.Random(f"tiny-{n}")
    return {
        "user_id": f"usr_{rng.getrandbits(48):012x}",
        "action": rng.choice(("welcome_email", "resize_avatar", "sync_contacts")),
        "attempt": 1,
        "requested_at": 1_764_000_000_000 + rng.randrange(10**10),
        "notify": rng.random() < 0.5,
    }


def _line_item(rng: random.Random) -> Payload:
    return {
        "sku": f"SKU-{rng.randrange(10**6):06d}",
        "qty": rng.randrange(1, 9),
        "unit_price": round(rng.uniform(0.5, 499.0), 2),
        "note": " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(2, 6))),
    }


def realistic(n: int, size: int = TARGET_BYTES) -> Payload:
    """An order-like document of about `size` bytes (compact JSON), grown item by item."""
    rng = random.Random(f"realistic-{n}")
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    base_ms = 1_764_000_000_000 + rng.randrange(10**10)
    payload: Payload = {
        "event_id": f"evt_{rng.getrandbits(64):016x}",
        "order_id": f"ord_{rng.getrandbits(40):010x}",
        "customer": {
            "id": f"cus_{rng.getrandbits(48):012x}",
            "name": f"{first.title()} {last.title()}",
            "email": f"{first}.{last}{rng.randrange(100)}@{rng.choice(_DOMAINS)}",
        },
        "amount": round(rng.uniform(1, 5000), 2),
        "currency": rng.choice(_CURRENCIES),
        "created_at": base_ms,
        "updated_at": base_ms + rng.randrange(86_400_000),
        "items": [],
        "comment": "",
    }
    while len(compact(payload)) < size - 120:
        payload["items"].append(_line_item(rng))
    words = []
    while len(compact({**payload, "comment": " ".join(words)})) < size:
        words.append(rng.choice(_WORDS))
    payload["comment"] = " ".join(words[:-1])
    return payload


def incompressible(n: int, size: int = TARGET_BYTES) -> Payload:
    rng = random.Random(f"incompressible-{n}")
    text = base64.b64encode(rng.randbytes(size)).decode()
    return {"blob": text[: size - len('{"blob":""}')]}


def corpus_files(directory: Path = CORPUS) -> list[Path]:
    """The corpus's deliveries, sorted; empty when the directory is missing or holds none."""
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def corpus_missing(directory: Path = CORPUS) -> str | None:
    """Why the GitHub class cannot run (for the report), or None when it can."""
    if not directory.is_dir():
        return f"GitHub payload corpus not found at {directory} (expected ../shared/payload-corpus/github/)"
    if not corpus_files(directory):
        return f"GitHub payload corpus at {directory} holds no *.json files"
    return None


def github() -> PayloadFactory:
    bodies = [json.loads(path.read_text()) for path in corpus_files()]
    if not bodies:
        raise FileNotFoundError(corpus_missing() or f"no GitHub payloads in {CORPUS}")
    return lambda n: bodies[n % len(bodies)]


CLASSES: dict[str, Callable[[], PayloadFactory]] = {
    "tiny": lambda: tiny,
    "realistic_1kb": lambda: realistic,
    "incompressible_1kb": lambda: incompressible,
    "github": github,
}
