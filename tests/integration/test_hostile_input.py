"""Hostile input against the running worker: every bad record reaches the dead-letter topic
with its context, every good one is decided, and the worker never stops."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.domain.errors import InvalidEvent
from pipeline.domain.events import decode_event
from pipeline.ops.registry import Registry, build_change, grant_fields, revoke_fields
from tests.helpers import event, now_ms, produce, read_all, wait_for
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration
NOW = now_ms()

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = {
    "event_id": st.text(max_size=140) | st.integers() | st.none(),
    "type": st.sampled_from(["stream_started", "stream_updated", "stream_ended", "x"]) | JSON,
    "ts": st.integers(-(2**65), 2**65) | st.floats(allow_nan=False) | st.text(max_size=5),
    "creator_id": st.text(max_size=140) | st.integers(),
    "stream_id": JSON,
    "category": JSON,
    "title": st.text(max_size=600) | JSON,
}


def mutated() -> st.SearchStrategy[bytes]:
    """A plausible live event with some fields replaced by hostile values."""
    base = {
        "event_id": "e",
        "type": "stream_started",
        "ts": NOW - 60_000,
        "creator_id": "c",
        "stream_id": "s",
        "category": "health",
    }
    return st.fixed_dictionaries({}, optional=FIELDS).map(
        lambda bad: json.dumps({**base, **bad}).encode()
    )


HOSTILE = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    mutated(),
    st.integers(1, 30).map(lambda n: b"[" * (n * 10_000)),  # deep nesting
    st.integers(65_537, 120_000).map(lambda n: b'{"pad": "' + b"x" * n + b'"}'),  # too large
    st.binary(min_size=1, max_size=50).map(lambda b: b'{"title": "' + b + b'\xff"}'),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=HOSTILE, key=st.one_of(st.none(), st.binary(max_size=20)))
def collect_hostile(value: bytes, key: bytes | None) -> None:
    """Collects hostile records (the worker is fed them all at once below)."""
    GENERATED.append((key, value))


GENERATED: list[tuple[bytes | None, bytes]] = []


def expected_code(key: bytes | None, value: bytes) -> str | None:
    """The dead-letter code the contract gives this record, None if it is decidable."""
    try:
        # The records are produced now: their Kafka timestamps bound `ts` (ts_out_of_range).
        decode_event("live", key, value, record_ts_ms=now_ms())
    except InvalidEvent as exc:
        return exc.error
    return None


async def test_hostile_records_all_reach_the_dlq_and_the_worker_goes_on(pipeline: Pipeline):
    collect_hostile()
    p, s = pipeline, pipeline.settings
    records = list(GENERATED)
    expected = Counter(c for c in (expected_code(k, v) for k, v in records) if c is not None)
    good = {
        "event_id": "after-the-storm",
        "type": "stream_started",
        "ts": now_ms(),
        "creator_id": "calm",
        "stream_id": "s1",
        "category": "music",
    }
    await produce(s, s.topics.live, [*records, (b"calm", good)])
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        dead = await read_all(s, s.topics.dlq)
        decided = {d["event_id"] for d in await read_all(s, s.topics.decisions)}
        if "after-the-storm" in decided and len(dead) >= sum(expected.values()):
            break
        assert asyncio.get_running_loop().time() < deadline, (len(dead), expected)
        await asyncio.sleep(1)
    assert p.workers[0].proc.poll() is None, "the worker stopped"
    # One dead letter per bad record, with the code the contract gives it, and context.
    assert Counter(d["error"] for d in dead) == expected
    for d in dead:
        assert d["topic"] == s.topics.live and d["offset"] >= 0 and d["detail"]
        assert "received_at" in d and "value" in d
        if d["error"] == "too_large":
            assert len(d["value"]) <= 65_536 and "value_sha256" in d
    assert {"invalid_json", "too_large", "key_mismatch"} <= set(expected)


async def test_a_far_future_or_ancient_ts_is_a_dead_letter_and_poisons_nothing(pipeline: Pipeline):
    # issue 12 #6: one event with a microsecond ts pinned the creator's newest time, which
    # forgot the live streams: the next revocation cut nothing off.
    s = pipeline.settings
    c = f"poison-{NOW % 100_000_000}"
    t = now_ms()
    grant = grant_fields(c, "health", f"L-{c}", "NHC", t - 1000, t + 86_400_000, None, t)
    await Registry(s).apply_and_publish([build_change(grant)])
    start = event("stream_started", c, f"{c}-e0", stream_id="s1", category="health")
    await produce(s, s.topics.live, [(c.encode(), start)])
    future = event("product_unlinked", c, f"{c}-e1", ts=t * 1000, link_id="l1")
    ancient = event("product_unlinked", c, f"{c}-e2", ts=946_684_799_999, link_id="l2")
    await produce(s, s.topics.commerce, [(c.encode(), future), (c.encode(), ancient)])
    dead = await wait_for(
        s, s.topics.dlq, lambda rs: sum(d.get("key") == c for d in rs) >= 2, timeout=30
    )
    mine = [d for d in dead if d.get("key") == c]
    assert [d["error"] for d in mine] == ["ts_out_of_range", "ts_out_of_range"]
    assert str(t * 1000) in mine[0]["detail"] and "2000-01-01" in mine[1]["detail"]
    revocation = build_change(revoke_fields(c, "health", "license withdrawn", now_ms()))
    await Registry(s).apply_and_publish([revocation])
    acts = await wait_for(
        s,
        s.topics.actions,
        lambda rs: any(a["creator_id"] == c and a["action"] == "cut_off_stream" for a in rs),
        timeout=30,
    )
    cut = next(a for a in acts if a["creator_id"] == c and a["action"] == "cut_off_stream")
    assert (cut["stream_id"], cut["rule_id"]) == ("s1", "certification.lapsed_live")
    decided = {d["event_id"] for d in await read_all(s, s.topics.decisions)}
    assert f"{c}-e1" not in decided and f"{c}-e2" not in decided
