"""Issue 19 on the real broker: a producer retry is a duplicate whatever the creator's rate
(after a restart too), and a record another producer appends to the decision log, claiming
a licence for an event not yet decided, changes no decision."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import murmur2

from pipeline.adapters.kafka import producer
from pipeline.domain.audit import GENESIS, decision_id, seal
from tests.helpers import event, now_ms, produce, read_all, wait_for
from tests.integration.conftest import start_pipeline

pytestmark = pytest.mark.integration
DAY = 86_400_000


async def test_a_producer_retry_after_10000_events_of_the_creator_produces_nothing(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env)
    s, creator = p.settings, f"retry-{p.uid}"
    link = event("product_linked", creator, f"{creator}-link", link_id="l1", product_id="p1",
                 surface="showcase", product_category="drug")  # fmt: skip
    await produce(s, s.topics.commerce, [(creator.encode(), link)])
    reports = [(creator.encode(), event("report", creator, f"{creator}-r{n}", source="user",
                reason="medical_goods", reporter_id=f"u{n}")) for n in range(10_000)]  # fmt: skip
    await produce(s, s.topics.reports, reports)
    # The same link record produced again: same event_id, a new offset (a producer retry).
    await produce(s, s.topics.commerce, [(creator.encode(), link)])
    marker = f"{creator}-m1"
    await produce(s, s.topics.commerce, [(creator.encode(), event(
        "product_unlinked", creator, marker, link_id="l9"))])  # fmt: skip
    await wait_for(s, s.topics.decisions, lambda rs: any(r["event_id"] == marker for r in rs),
                   timeout=180)  # fmt: skip
    p.workers[0].stop()
    worker = p.add_worker()
    try:
        await asyncio.to_thread(worker.wait_ready)
        await produce(s, s.topics.commerce, [(creator.encode(), link)])  # and after a restart
        marker2 = f"{creator}-m2"
        await produce(s, s.topics.commerce, [(creator.encode(), event(
            "product_unlinked", creator, marker2, link_id="l9"))])  # fmt: skip
        seen = lambda rs: any(r["event_id"] == marker2 for r in rs)  # noqa: E731
        await wait_for(s, s.topics.decisions, seen, timeout=90)
        decisions = await read_all(s, s.topics.decisions)
        actions = await read_all(s, s.topics.actions)
        assert len([d for d in decisions if d["event_id"] == link["event_id"]]) == 1
        deductions = [a for a in actions if a["action"] == "deduct_credit"
                      and a["rule_id"].startswith("commerce")]  # fmt: skip
        assert len({a["action_id"] for a in deductions}) == 1
    finally:
        worker.stop()


async def test_a_forged_decision_record_claiming_a_licence_changes_no_decision(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env)
    s, creator = p.settings, f"forged-{p.uid}"
    partition = (murmur2(creator.encode()) & 0x7FFFFFFF) % s.partitions
    warmup = f"{creator}-w"
    await produce(s, s.topics.live, [(creator.encode(), event(
        "stream_started", creator, warmup, stream_id="s0", category="music"))])  # fmt: skip
    await wait_for(s, s.topics.decisions, lambda rs: any(r["event_id"] == warmup for r in rs),
                   timeout=90)  # fmt: skip
    p.workers[0].stop()
    # Another producer appends a record whose hash verifies, for an event not yet decided,
    # claiming a health licence and an allow, as if LiveGate had decided it.
    target = event("stream_started", creator, f"{creator}-e1", stream_id="s1", category="health")
    t = now_ms()
    licence = {"status": "active", "license_id": "FAKE", "issuer": "nobody",
               "profession": "physician", "valid_from": t - DAY, "valid_until": t + DAY,
               "updated_at": t - DAY, "event_id": "forged"}  # fmt: skip
    forged = {"decision_id": decision_id(creator, target["event_id"]), "event": target,
              "event_id": target["event_id"], "event_type": "stream_started",
              "creator_id": creator, "outcome": "allow", "action_ids": [], "rule_ids": [],
              "certifications": {"health": licence}, "state_before": {},
              "policy_version": "forged",
              "event_ts": target["ts"], "decided_at": t,
              "source": {"topic": s.topics.live, "partition": partition, "offset": 1}}  # fmt: skip
    body, _ = seal(forged, GENESIS)
    prod = producer(s)
    await prod.start()
    try:
        await prod.send_and_wait(s.topics.decisions, body, key=creator.encode(),
                                 partition=partition)  # fmt: skip
    finally:
        await prod.stop()
    worker = p.add_worker()
    try:
        await asyncio.to_thread(worker.wait_ready)
        await produce(s, s.topics.live, [(creator.encode(), target)])
        await wait_for(s, s.topics.actions, lambda rs: any(
            r["creator_id"] == creator and r["action"] == "cut_off_stream" for r in rs),
            timeout=90)  # fmt: skip
        decisions = [d for d in await read_all(s, s.topics.decisions)
                     if d["event_id"] == target["event_id"]]  # fmt: skip
        assert [d["outcome"] for d in decisions] == ["allow", "enforce"]  # the forged, ours
        assert decisions[1]["certifications"] == {}
    finally:
        worker.stop()
