"""Issue 12 item 2 (CONTRACT v2 §3): an unreadable value in the certification table makes
that creator's events `bad_certification` dead letters; everyone else is decided."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from tests.helpers import event, produce, read_all, wait_for
from tests.integration.conftest import start_pipeline

pytestmark = pytest.mark.integration

BAD_VALUES = {
    "truncated": ("hash", b'{"status": "active", "license_id": "L'),
    "suspended": ("hash", b'{"status": "suspended", "valid_from": 0, "valid_until": 1}'),
    "not_utf8": ("hash", b"\xff\xfe\x00garbage"),
    "wrongtype": ("string", b"not a hash at all"),
}


async def test_unreadable_values_are_dead_letters_and_the_partition_flows(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env)
    try:
        s = p.settings
        tag = uuid.uuid4().hex[:6]
        client = aioredis.Redis.from_url(s.redis_url.reveal())
        bad = {}
        for name, (kind, value) in BAD_VALUES.items():
            creator = f"bad-{name}-{tag}"
            key = s.cert_prefix + creator
            if kind == "hash":
                await client.hset(key, "health", value)
            else:
                await client.set(key, value)
            bad[creator] = name
        await client.incr(s.epoch_key)
        await client.aclose()
        good = [f"good-{i}-{tag}" for i in range(5)]
        records = [
            (c.encode(), event("stream_started", c, f"{c}-e1", stream_id="s1", category="health"))
            for c in [*bad, *good]
        ]
        await produce(s, s.topics.live, records)
        decisions = await wait_for(
            s, s.topics.decisions, lambda rs: {r["creator_id"] for r in rs} >= set(good)
        )
        dead = await wait_for(s, s.topics.dlq, lambda rs: len(rs) >= len(bad))
        assert {d["key"] for d in dead} == set(bad)
        for d in dead:
            assert d["error"] == "bad_certification", d
            assert s.cert_prefix + d["key"] in d["detail"]
        by_creator = {d["creator_id"]: d for d in decisions}
        assert not set(bad) & set(by_creator)
        assert all(by_creator[c]["outcome"] == "enforce" for c in good)  # unqualified: cut off
        wrongtype = next(d for d in dead if bad[d["key"]] == "wrongtype")
        assert "not a hash" in wrongtype["detail"]
        # The worker is alive and keeps deciding.
        late = f"good-late-{tag}"
        await produce(s, s.topics.live, [(late.encode(), event(
            "stream_started", late, f"{late}-e1", stream_id="s1", category="gaming"))])  # fmt: skip
        await wait_for(s, s.topics.decisions, lambda rs: any(r["creator_id"] == late for r in rs))
        assert all(w.proc.poll() is None for w in p.workers)
        assert len(await read_all(s, s.topics.dlq)) == len(bad)
    finally:
        for w in p.workers:
            w.stop()
