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
from tests.helpers import produce, read_all
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration

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
        "ts": 1,
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
        decode_event("live", key, value)
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
        "ts": 1,
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
