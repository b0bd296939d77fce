"""Guards against mass wrong enforcement: the loaded flag, `certs rebuild`, the breaker."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid

import pytest
import redis.asyncio as aioredis

from pipeline.ops.registry import Registry, build_change, grant_fields
from tests.helpers import event, now_ms, produce, read_all, run_cli, wait_for
from tests.integration.conftest import start_pipeline

pytestmark = pytest.mark.integration
YEAR = 365 * 86_400_000


def started(c: str, n: int = 0, category: str = "health") -> dict:
    return event("stream_started", c, f"{c}-e{n}", stream_id=f"s{n}", category=category)


async def test_an_emptied_table_decides_nothing_until_rebuilt(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env)
    try:
        s, doc = p.settings, f"doc-{uuid.uuid4().hex[:8]}"
        t = now_ms()
        await Registry(s).apply_and_publish(
            [
                build_change(
                    grant_fields(doc, "health", "L1", "NHC", t - 1000, t + YEAR, "physician", t)
                )
            ]
        )
        # Redis loses everything (a flush, a replaced instance): the table is not loaded.
        client = aioredis.Redis.from_url(s.redis_url.reveal())
        keys = [k async for k in client.scan_iter(f"{s.redis_prefix}*")]
        await client.delete(*keys)
        await produce(s, s.topics.live, [(doc.encode(), started(doc, 1))])
        await asyncio.sleep(5)
        # The grant itself may have been decided before the table was emptied: the stream is
        # the event that must wait.
        decided = [d for d in await read_all(s, s.topics.decisions) if d["event_id"] == f"{doc}-e1"]
        assert decided == [], "decided without a loaded certification table"
        rebuilt = run_cli(p.env, "certs", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "table loaded" in rebuilt.stdout
        assert await client.exists(s.loaded_key)
        await client.aclose()
        records = await wait_for(
            s, s.topics.decisions, lambda rs: any(r["event_id"] == f"{doc}-e1" for r in rs)
        )
        mine = next(r for r in records if r["event_id"] == f"{doc}-e1")
        # The physician was not cut off: the rebuilt table still knows the qualification.
        assert mine["outcome"] == "allow"
        assert mine["certifications"]["health"]["status"] == "active"
    finally:
        for w in p.workers:
            w.stop()


async def test_the_breaker_holds_a_burst_and_release_decides_it_again(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env, LIVEGATE_BREAKER_FLOOR="45")
    try:
        s = p.settings
        creators = [f"burst{i}-{uuid.uuid4().hex[:6]}" for i in range(25)]
        start = now_ms()
        await produce(s, s.topics.live, [(c.encode(), started(c)) for c in creators])
        records = await wait_for(s, s.topics.decisions, lambda rs: len(rs) >= len(creators))
        held = [d for d in records if d.get("held")]
        enforced = [d for d in records if not d.get("held")]
        # Each decision carries 3 enforcing actions (cut off, deduct, limit): 45 pass.
        assert len(enforced) == 15 and len(held) == 10
        assert all(len(d["held_actions"]) == 4 and d["action_ids"] for d in held)
        acted = {a["creator_id"] for a in await read_all(s, s.topics.actions)}
        assert acted == {d["creator_id"] for d in enforced}
        port = p.workers[0].web_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
            metrics = resp.read().decode()
        assert "livegate_breaker_open 1.0" in metrics
        assert "livegate_actions_held_total 40.0" in metrics
        assert "circuit breaker OPEN" in p.workers[0].log_path.read_text()

        await asyncio.sleep(11)  # the burst leaves the breaker's window
        dry = run_cli(
            p.env, "breaker", "release", "--from", str(start), "--to", str(now_ms()), "--dry-run"
        )
        assert dry.returncode == 0, dry.stderr
        assert "10 held decision(s) to re-send, 0 skipped; nothing sent" in dry.stdout
        period = ["--from", str(start), "--to", str(now_ms())]
        unasked = run_cli(p.env, "breaker", "release", *period)
        assert unasked.returncode == 1
        assert "stdin is not a terminal; run again with --yes" in unasked.stderr
        out = run_cli(p.env, "breaker", "release", *period, "--yes")
        assert out.returncode == 0 and "re-sent 10 held event(s)" in out.stdout, out.stderr
        actions = await wait_for(
            s, s.topics.actions, lambda rs: {a["creator_id"] for a in rs} == set(creators)
        )
        cuts = [a for a in actions if a["action"] == "cut_off_stream"]
        assert sorted(a["creator_id"] for a in cuts) == sorted(creators)  # one cut each
    finally:
        for w in p.workers:
            w.stop()
