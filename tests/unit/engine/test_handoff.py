"""Issue 19: the atomic hand-off of a batch (the outbox), driven with fakes.

A batch's entry is durable before anything of it is sent; a successor that restores the
partition's store finishes a pending entry byte for byte before it decides anything; a
producer retry is a duplicate whatever the creator's rate, after a restart too.
"""

from __future__ import annotations

import asyncio

from pipeline.bench.engine_harness import Harness, stream_started
from pipeline.engine.outbox import PREFIX


async def settle() -> None:
    for _ in range(100):
        await asyncio.sleep(0)


def successor(h: Harness, **kwargs) -> Harness:
    """A new worker given the partitions: its stores restored from the same changelogs."""
    h2 = Harness.build(now_ms=h.clock.now_ms, **kwargs)
    h2.states.data = h.states.data
    h2.ids.data = h.ids.data
    h2.offsets = dict(h.offsets)
    return h2


def sent(h: Harness) -> list[tuple]:
    return [(s.topic, s.key, s.value, s.partition) for s in h.send.sent]


def link(eid: str, ts: int, creator: str = "c1") -> dict:
    return {"event_id": eid, "type": "product_linked", "ts": ts, "creator_id": creator,
            "link_id": "l1", "product_id": "p1", "surface": "showcase",
            "product_category": "drug"}  # fmt: skip


async def test_nothing_is_sent_or_applied_before_the_batch_entry_is_durable():
    h = Harness.build()
    t = h.clock.now_ms
    await h.processor.resume({0})
    h.states.held = []
    acked: list[int] = []

    async def ack() -> None:
        acked.append(1)

    await h.processor.process([h.record("live", stream_started("c1", "e1", t))], ack)
    await settle()
    assert h.send.sent == [] and h.states.writes == [] and acked == []
    assert any(k.startswith(PREFIX) for k in h.states.data)  # the entry, not yet durable
    for f in h.states.held:
        f.set_result(None)
    h.states.held = None
    await settle()
    topics = h.settings.topics
    assert [s.topic for s in h.send.sent][:1] == [topics.decisions]
    assert h.states.writes == [(b"c1", 0)] and acked == [1]


async def test_the_out_records_of_a_decision_in_order():
    h = Harness.build()
    t = h.clock.now_ms
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    topics = h.settings.topics
    out = [(s.topic, s.key, s.partition) for s in h.send.sent]
    assert out == [(topics.decisions, b"c1", 0)] + [(topics.actions, b"c1", 0)] * 4


async def ack_nothing() -> None:
    pass


async def test_a_successor_finishes_a_pending_entry_byte_for_byte_before_deciding():
    h = Harness.build(auto_deliver=False)  # the broker never acknowledges: then it dies
    t = h.clock.now_ms
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))], ack_nothing)
    await settle()
    first = sent(h)
    assert first and h.states.writes == [(b"c1", 0)]
    h.states.data.pop(b"c1")  # the state write never reached the changelog either
    h2 = successor(h)
    report = {"type": "report", "event_id": "r1", "ts": t + 1, "creator_id": "c1",
              "source": "user", "reason": "unqualified_professional", "reporter_id": "u1",
              "stream_id": "s1"}  # fmt: skip
    await h2.processor.process([h2.record("reports", report)])
    again = sent(h2)
    assert again[: len(first)] == first  # re-sent exactly, first
    decisions = [s.json() for s in h2.send.on(h2.settings.topics.decisions)]
    assert [d["event_id"] for d in decisions] == ["e1", "r1"]
    assert decisions[1]["prev_hash"] == decisions[0]["hash"]  # the chain goes on
    # The report was decided on the state the entry held (e1's deduction in it).
    assert decisions[1]["state_before"]["credit"] < decisions[0]["state_before"]["credit"]
    # e1 redelivered to the successor: a duplicate, nothing new.
    before = len(h2.send.sent)
    await h2.processor.process([h2.record("live", stream_started("c1", "e1", t))])
    assert len(h2.send.sent) == before
    assert h2.chain.reads == []  # nothing read from the decision log


async def test_a_done_entry_is_not_sent_again_by_a_successor():
    h = Harness.build()
    t = h.clock.now_ms
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    await h.processor.flush_claims()
    h2 = successor(h)
    await h2.processor.resume({0})
    assert h2.send.sent == []


async def test_a_producer_retry_after_10000_events_of_the_creator_is_a_duplicate():
    h = Harness.build()
    t = h.clock.now_ms - 60_000
    await h.processor.process([h.record("commerce", link("e-link", t))])
    deducted = [s.json() for s in h.send.on(h.settings.topics.actions)]
    assert any(a["action"] == "deduct_credit" for a in deducted)
    for start in range(0, 10_000, 500):
        batch = [h.record("reports", {"type": "report", "event_id": f"r{n}", "ts": t + n,
                                      "creator_id": "c1", "source": "user",
                                      "reason": "other", "reporter_id": f"u{n}"})
                 for n in range(start, start + 500)]  # fmt: skip
        await h.processor.process(batch)
    h.send.sent.clear()
    await h.processor.process([h.record("commerce", link("e-link", t))])  # a new offset
    assert h.send.sent == []
    # And after a restart: a new worker on the restored stores.
    h2 = successor(h)
    await h2.processor.flush_claims()
    await h2.processor.process([h2.record("commerce", link("e-link", t))])
    assert [s.topic for s in h2.send.sent] == []
