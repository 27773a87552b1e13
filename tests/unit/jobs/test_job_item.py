"""The compact job item (docs/architecture.md, "The job item"): creation-ordered ids, packed payloads,
history read off the item's fields, lease checks armed from the stream, the workers' held-job sets."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest

from shared.jobs import expressions as ex
from shared.jobs import timers as job_timers
from shared.jobs.model import JobRecord, history_events
from shared.jobs.store_base import INLINE_PAYLOAD_BYTES, pack_payload, packed_size, unpack_payload
from shared.jobs.workers.registry import lease_changes
from shared.plumbing import dynamo_codec
from shared.plumbing.timer_queue import LeaseCheck, decode

T0 = 1_800_000_000_000


# --- ids ---------------------------------------------------------------------------------------


def test_job_ids_are_uuids_that_sort_by_creation_time() -> None:
    ids = [ex.new_job_id(T0 + step, 8) for step in (0, 1, 2, 1_000, 86_400_000)]
    assert ids == sorted(ids)
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert ex.new_job_id(T0, 8) != ex.new_job_id(T0, 8)  # 66 random bits within one millisecond


@pytest.mark.parametrize("shards", [1, 8, 64, 256])
def test_one_millisecond_of_ids_spreads_over_every_job_shard(shards: int) -> None:
    counts = [0] * shards
    for _ in range(shards * 50):
        counts[ex.job_shard(ex.new_job_id(T0, shards))] += 1  # type: ignore[index]
    assert min(counts) > 0 and len(counts) == shards  # every shard used, none past the count


def test_the_job_shard_is_byte_9_of_the_id_and_the_key_comes_from_it() -> None:
    entropy = bytes(range(10)) + (7).to_bytes(2, "big")  # the last two bytes choose the shard
    job_id = ex.new_job_id(T0, 8, entropy)
    assert job_id[21:23] == "07" and ex.job_shard(job_id) == 7
    assert ex.job_key("org", job_id) == {"pk": {"S": "JOB#org#7"}, "sk": {"S": job_id}}
    assert ex.job_id_from_key(ex.job_key("org", job_id)) == job_id
    # A job stays found when the shard count is raised: its key reads nothing but the id.
    assert ex.job_key("org", job_id) == ex.job_key("org", ex.new_job_id(T0, 8, entropy))


def test_the_job_shard_and_the_ready_shard_come_from_different_bits() -> None:
    base = bytes(range(10))
    ids = [ex.new_job_id(T0, 256, base + shard.to_bytes(2, "big")) for shard in range(256)]
    assert {ex.job_shard(job_id) for job_id in ids} == set(range(256))
    assert len({ex.shard_of(job_id, 64) for job_id in ids}) == 1  # same random bits, same ready shard
    other = [ex.new_job_id(T0, 8, bytes([0] * 7 + [n, n, n]) + b"\0\3") for n in range(64)]
    assert {ex.job_shard(job_id) for job_id in other} == {3}
    assert len({ex.shard_of(job_id, 64) for job_id in other}) > 1


@pytest.mark.parametrize("job_id", ["", "j1", "not-a-job", "0" * 36, "0190E2A4-0000-7000-8000-000000000000"])
def test_an_id_new_job_id_cannot_have_made_names_an_empty_partition(job_id: str) -> None:
    assert ex.job_shard(job_id) is None and not ex.is_job_id(job_id)
    key = ex.job_key("org", job_id)
    assert key["pk"]["S"] == f"JOB#org#{ex.NO_JOB_PARTITION}" and key["sk"]["S"]


@pytest.mark.parametrize("shards", [0, 257])
def test_a_shard_count_outside_one_byte_is_refused(shards: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.plumbing.config import settings

    with pytest.raises(ValueError):
        ex.new_job_id(T0, shards)
    monkeypatch.setenv("SPOOLED_JOB_SHARDS", str(shards))
    settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="SPOOLED_JOB_SHARDS"):
            settings()
    finally:
        monkeypatch.undo()
        settings.cache_clear()


# --- payloads ----------------------------------------------------------------------------------


def _realistic(n: int) -> str:
    rng = random.Random(n)
    words = [
        "invoice",
        "order",
        "refund",
        "shipment",
        "customer",
        "pending",
        "approved",
        "delayed",
        "express",
    ]
    document = {
        "order_id": f"ord_{rng.getrandbits(40):010x}",
        "email": f"user{rng.randrange(10**6)}@example.com",
        "amount": round(rng.uniform(1, 5000), 2),
        "items": [
            {"sku": f"SKU-{rng.randrange(10**6):06d}", "note": " ".join(rng.choices(words, k=4))}
            for _ in range(8)
        ],
    }
    return json.dumps(document, separators=(",", ":"))


@pytest.mark.parametrize(
    ("text", "stored_as"),
    [
        ('{"a":1}', "payload"),  # nothing to gain: kept as text
        (_realistic(1), "pz"),  # ~650 bytes of varied JSON: compressed
        (json.dumps({"blob": "x" * 5000}), "pz"),
        (json.dumps({"r": random.Random(3).randbytes(600).hex()}), "pz"),  # hex: compressible
    ],
)
def test_a_payload_is_packed_only_when_that_saves_a_tenth(text: str, stored_as: str) -> None:
    packed = pack_payload(text)
    assert list(packed) == [stored_as]
    assert unpack_payload(dynamo_codec.decode_item(packed)) == text


def test_realistic_json_of_1_kb_fits_the_job_item() -> None:
    for n in range(20):
        text = _realistic(n)
        assert packed_size(pack_payload(text)) <= INLINE_PAYLOAD_BYTES, len(text)


# --- history -----------------------------------------------------------------------------------


def _record(status: str, **fields: Any) -> JobRecord:
    base: dict[str, Any] = {
        "id": "j",
        "org_id": "o",
        "queue_name": "q",
        "status": status,
        "priority": 0,
        "payload": None,
        "retry_count": 0,
        "max_retries": 3,
        "timeout_seconds": 60,
        "created_at": T0,
        "updated_at": T0,
    }
    return JobRecord(**{**base, **fields})


@pytest.mark.parametrize(
    ("record", "kinds"),
    [
        (_record("pending"), ["created"]),
        (
            _record("processing", started_at=T0 + 5, assigned_worker_id="w", lease_id="l"),
            ["created", "processing"],
        ),
        (
            _record("completed", started_at=T0 + 5, completed_at=T0 + 9, assigned_worker_id="w"),
            ["created", "processing", "completed"],
        ),
        (
            # a failed attempt wrote itself down; the current one is read off the fields
            _record(
                "completed",
                started_at=T0 + 50,
                completed_at=T0 + 60,
                assigned_worker_id="w2",
                events=[
                    {"t": T0 + 5, "e": "processing", "w": "w1"},
                    {"t": T0 + 9, "e": "retry_scheduled", "w": "w1"},
                ],
            ),
            ["created", "processing", "retry_scheduled", "processing", "completed"],
        ),
        (
            # a started_at left from an earlier attempt says nothing about a pending job
            _record("pending", started_at=T0 + 5, events=[{"t": T0 + 9, "e": "retry_scheduled"}]),
            ["created", "retry_scheduled"],
        ),
    ],
)
def test_history_is_read_off_the_item(record: JobRecord, kinds: list[str]) -> None:
    events = history_events(record)
    assert [e["e"] for e in events] == kinds
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)


# --- lease checks ------------------------------------------------------------------------------


def _job(status: str, **fields: Any) -> dict[str, Any]:
    item = {"pk": "JOB#o#3", "sk": "j1", "id": "j1", "org_id": "o", "queue_name": "q", "status": status}
    return dynamo_codec.encode_item({**item, **fields})


def _change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    return {"dynamodb": change}


CLAIMED = _job("processing", lease_id="a", lease_expires_at=T0 + 30_000, assigned_worker_id="w")


@pytest.mark.parametrize(
    ("old", "new", "armed"),
    [
        (_job("pending"), CLAIMED, [("j1", "a", T0 + 30_000)]),  # a claim
        (CLAIMED, _job("processing", lease_id="a", lease_expires_at=T0 + 60_000), [("j1", "a", T0 + 60_000)]),
        (CLAIMED, CLAIMED, []),  # a write that left the lease alone (e.g. mark_invoked)
        (CLAIMED, _job("completed", lease_id="a"), []),
        (None, _job("pending"), []),
    ],
)
def test_a_lease_check_is_armed_for_every_new_lease_end(
    old: dict[str, Any] | None, new: dict[str, Any], armed: list[tuple[str, str, int]]
) -> None:
    messages = [m for m in job_timers.timers_to_arm([_change(old, new)], T0) if isinstance(m, LeaseCheck)]
    assert [lease for m in messages for lease in m.leases] == armed
    for message in messages:
        assert decode(message.to_json()) == message
        assert message.due_ms == max(end for _, _, end in message.leases)


def test_a_claim_batch_arms_one_lease_check_per_second_of_lease_ends() -> None:
    leases = [(f"j{n}", "l", T0 + 30_000 + n * 10) for n in range(150)]  # over 1.5 s
    checks = job_timers.lease_checks("o", "q", leases)
    assert sorted(lease for c in checks for lease in c.leases) == sorted(leases)
    assert len(checks) == 2


# --- each worker's held jobs -------------------------------------------------------------------


def test_a_workers_held_jobs_follow_its_claims_and_settlements() -> None:
    def job(job_id: str, status: str, worker: str | None) -> dict[str, Any]:
        return dynamo_codec.encode_item(
            {
                "pk": f"JOB#o#{job_id}",
                "id": job_id,
                "org_id": "o",
                "status": status,
                "assigned_worker_id": worker,
            }
        )

    records = [
        _change(job("a", "pending", None), job("a", "processing", "w1")),  # w1 takes a
        _change(job("b", "pending", None), job("b", "processing", "w1")),  # and b
        _change(job("b", "processing", "w1"), job("b", "completed", "w1")),  # settles b
        _change(job("c", "processing", "w2"), job("c", "pending", "w2")),  # w2 loses c
        _change(job("c", "pending", "w2"), job("c", "processing", "w1")),  # w1 takes c
    ]
    assert lease_changes(records) == {("o", "w1"): ({"a", "c"}, {"b"}), ("o", "w2"): (set(), {"c"})}


def test_brotli_best_only_where_it_keeps_the_payload_in_the_job_item() -> None:
    """Best quality costs ~25x the CPU of quality 5 for ~9% smaller output: spent only where that
    keeps the payload in the job item instead of an item of its own (a write at create, a read
    per claim)."""
    import brotli

    from bench import payloads

    usual = json.dumps(payloads.realistic(0), separators=(",", ":")).encode()
    assert pack_payload(usual.decode())["pz"]["B"] == brotli.compress(usual, quality=5)

    extra = payloads.realistic(5000)
    larger = {**payloads.realistic(0), **{"x_" + k: extra[k] for k in list(extra)[:3]}}
    text = json.dumps(larger, separators=(",", ":"))
    assert len(brotli.compress(text.encode(), quality=5)) > INLINE_PAYLOAD_BYTES  # the case at hand
    packed = pack_payload(text)
    assert packed["pz"]["B"] == brotli.compress(text.encode(), quality=11)
    assert packed_size(packed) <= INLINE_PAYLOAD_BYTES
    assert unpack_payload(dynamo_codec.decode_item(packed)) == text


# --- stream images -----------------------------------------------------------------------------


def test_a_stream_image_is_decoded_once_for_every_reader_of_its_batch() -> None:
    job = {"pk": "JOB#org-1#3", "sk": "j1", "status": "pending", "priority": 5, "payload": b"\x01\x02"}
    image = dynamo_codec.encode_item(job)
    first = ex.decoded_job_image(image)
    assert first == job
    assert ex.decoded_job_image(image) is first  # the side effects of one batch share it
    # An equal image of another record is decoded from its own attributes, never mixed up.
    other = {**image, "status": {"S": "processing"}}
    assert ex.decoded_job_image(other) == {**first, "status": "processing"}
    assert ex.decoded_job_image({"pk": {"S": "JOBP#org-1#3"}, "sk": {"S": "j1"}}) is None  # a payload item
    assert ex.decoded_job_image(None) is None
