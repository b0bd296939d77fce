"""A record LiveGate did not seal at the tail of a decisions partition (issue 12 #3): a new
worker continues the chain from the last sealed record, and `livegate replay verify` names
the foreign one. Since the outbox (issue 19) the new worker takes the chain head from the
partition's state and reads nothing of the log: the foreign records are not even read.
(A partition without an outbox reads the tail: tests/unit/engine/test_decisionlog.py.)"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from pipeline.adapters.kafka import producer, read_topic
from pipeline.adapters.settings import Settings
from tests.helpers import Out, event, now_ms, produce, read_all, run_cli
from tests.integration.conftest import start_pipeline

pytestmark = pytest.mark.integration


async def decisions(s: Settings) -> list[Out]:
    """The decision records that are JSON objects (the foreign ones here are not all)."""
    out = []
    for rows in (await read_topic(s, s.topics.decisions)).values():
        for r in rows:
            try:
                value = json.loads(r.value or b"")
            except ValueError:
                continue
            out.append(Out(r.topic, r.partition, r.offset, r.key, value))
    return out


async def wait_decided(s: Settings, event_id: str) -> Out:
    for _ in range(120):
        found = [r for r in await decisions(s) if r.get("event_id") == event_id]
        if found:
            return found[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"{event_id} was not decided")


async def test_a_foreign_record_at_the_tail_is_skipped_and_the_chain_continues(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env)
    try:
        s = p.settings
        start = now_ms() - 1000
        c = f"tail-{uuid.uuid4().hex[:8]}"
        first = event("stream_started", c, f"{c}-e1", stream_id="s1", category="music")
        await produce(s, s.topics.live, [(c.encode(), first)])
        sealed = await wait_decided(s, f"{c}-e1")
        p.workers[0].stop()

        # Another producer writes to the same partition: junk and a partial write.
        prod = producer(s)
        await prod.start()
        try:
            for value in (b'{"note": "not LiveGate"}', b'{"decision_id": "x", "prev_hash": "0'):
                await prod.send_and_wait(
                    s.topics.decisions, value, key=c.encode(), partition=sealed.partition
                )
        finally:
            await prod.stop()

        worker = p.add_worker()
        await asyncio.to_thread(worker.wait_ready)
        second = event("stream_ended", c, f"{c}-e2", stream_id="s1")
        await produce(s, s.topics.live, [(c.encode(), second)])
        after = await wait_decided(s, f"{c}-e2")
        assert after.partition == sealed.partition
        assert after["prev_hash"] == sealed["hash"]  # continued from the last sealed record
        assert worker.proc is not None and worker.proc.poll() is None
        log = worker.log_path.read_text()
        assert "not sealed by LiveGate" not in log and "continuing the chain" not in log

        out = await asyncio.to_thread(
            run_cli, p.env, "replay", "verify", "--from", str(start), "--to", str(now_ms())
        )
        text = out.stdout
        assert out.returncode == 0, text + out.stderr
        assert "foreign records:        2" in text and "chain breaks:           0" in text
        for offset in (sealed.offset + 1, sealed.offset + 2):
            assert f"FOREIGN  {s.topics.decisions}[{sealed.partition}]@{offset}" in text
        assert "OK: every decision of the period matches" in text
        actions = await read_all(s, s.topics.actions)
        assert [a for a in actions if a["creator_id"] == c] == []
    finally:
        for w in p.workers:
            w.stop()
