"""The engine without a broker: the Processor driven with fakes (pipeline/bench/engine_harness).

What the real-stack tests cannot isolate: acks only after delivery, state written in decide
order after its records are delivered, dedupe, held decisions, dead letters on decode and on
a failing decide, and waiting (never deciding) while Redis is down.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from pipeline.adapters.settings import Settings
from pipeline.bench.engine_harness import Harness, stream_started
from pipeline.domain.certifications import Certification
from pipeline.engine import deciding as deciding_module
from pipeline.engine.certcache import TableNotLoaded
from tests.unit.engine.conftest import Fatal

DAY = 86_400_000


def health_cert(now: int) -> Certification:
    return Certification(status="active", license_id="L1", issuer="Board", profession="nurse",
                         valid_from=now - DAY, valid_until=now + 365 * DAY,
                         updated_at=now - DAY, event_id="g1")  # fmt: skip


def recording_ack() -> tuple[list[int], Callable[[], Awaitable[None]]]:
    """An ack that counts its calls: the list, and the ack."""
    acked: list[int] = []

    async def ack() -> None:
        acked.append(1)

    return acked, ack


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_an_unqualified_health_stream_is_decided_emitted_and_acked_after_delivery():
    h = Harness.build(auto_deliver=False)
    t = h.clock.now_ms
    acked, ack = recording_ack()
    await h.processor.process([h.record("live", stream_started("c1", "e1", t - 1000))], ack)
    await settle()
    topics = h.settings.topics
    decisions = h.send.on(topics.decisions)
    actions = [s.json()["action"] for s in h.send.on(topics.actions)]
    assert len(decisions) == 1 and decisions[0].json()["outcome"] == "enforce"
    # 12 - 4 = 8 crosses the "8 or below" threshold: limit_recommendation too.
    assert sorted(actions) == ["cut_off_stream", "deduct_credit", "limit_recommendation", "warn"]
    # Nothing is acked before the broker has the records.
    assert acked == []
    h.send.deliver_all()
    await settle()
    assert acked == [1] and h.states.writes == [(b"c1", 0)]


async def test_a_qualified_creator_is_allowed_and_nothing_is_emitted_but_the_decision():
    h = Harness.build()
    t = h.clock.now_ms
    h.certs.table["c1"] = {"health": health_cert(t)}
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    assert [s.topic for s in h.send.sent] == [h.settings.topics.decisions]
    assert h.send.sent[0].json()["outcome"] == "allow"


async def test_a_redelivered_event_produces_nothing_new():
    h = Harness.build()
    t = h.clock.now_ms
    event = stream_started("c1", "e1", t)
    await h.processor.process([h.record("live", event)])
    first = len(h.send.sent)
    await h.processor.process([h.record("live", event)])
    assert len(h.send.sent) == first


async def test_bad_records_become_dead_letters_with_their_place_and_the_rest_is_decided():
    h = Harness.build()
    t = h.clock.now_ms
    bad = h.record("live", b"{not json", key=b"c9")
    good = h.record("live", stream_started("c1", "e1", t))
    await h.processor.process([bad, good])
    dead = [s.json() for s in h.send.on(h.settings.topics.dlq)]
    assert [(d["error"], d["offset"], d["key"]) for d in dead] == [("invalid_json", 0, "c9")]
    assert len(h.send.on(h.settings.topics.decisions)) == 1


async def test_a_decide_that_raises_is_a_dead_letter_and_the_batch_goes_on(monkeypatch):
    h = Harness.build()
    t = h.clock.now_ms
    real = deciding_module.decide

    def decide(event, *args):
        if event.event_id == "boom":
            raise ZeroDivisionError("rule bug")
        return real(event, *args)

    monkeypatch.setattr(deciding_module, "decide", decide)
    await h.processor.process([h.record("live", stream_started("c1", "boom", t)),
                               h.record("live", stream_started("c2", "fine", t))])  # fmt: skip
    dead = [s.json() for s in h.send.on(h.settings.topics.dlq)]
    assert [d["error"] for d in dead] == ["decision_failed"] and "rule bug" in dead[0]["detail"]
    decided = [s.json()["event_id"] for s in h.send.on(h.settings.topics.decisions)]
    assert decided == ["fine"]


async def test_states_are_written_and_batches_acked_in_decide_order():
    h = Harness.build(auto_deliver=False)
    t = h.clock.now_ms
    order: list[str] = []

    def acker(name: str):
        async def ack() -> None:
            order.append(name)

        return ack

    await h.processor.process([h.record("live", stream_started("c1", "e1", t))], acker("first"))
    await settle()
    first_deliveries = list(h.send.deliveries)
    assert first_deliveries
    await h.processor.process([h.record("live", stream_started("c2", "e2", t))], acker("second"))
    await settle()
    # The second batch's records reach the broker first: it still waits for the first.
    for f in h.send.deliveries[len(first_deliveries) :]:
        f.set_result(None)
    await settle()
    assert order == []
    for f in first_deliveries:
        f.set_result(None)
    await settle()
    assert order == ["first", "second"]
    assert [k for k, _ in h.states.writes] == [b"c1", b"c2"]


async def test_a_failed_delivery_stops_without_acking():
    h = Harness.build(auto_deliver=False)
    t = h.clock.now_ms
    acked, ack = recording_ack()
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))], ack)
    await settle()
    h.send.deliveries[0].set_exception(TimeoutError("request timed out"))
    h.send.deliver_all()
    task = next(iter(h.processor.completions))
    with pytest.raises(Fatal):
        await task
    assert acked == []


async def test_a_delivery_that_never_completes_stops_without_acking_after_the_timeout():
    """The senders never give up on a record (librdkafka: no expiry); the worker's patience
    (`Completer.delivery_timeout_s`, 300 s) ends a batch whose records a broker never takes."""
    h = Harness.build(auto_deliver=False)
    h.processor.completer.delivery_timeout_s = 0.05
    t = h.clock.now_ms
    acked, ack = recording_ack()
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))], ack)
    task = next(iter(h.processor.completions))
    with pytest.raises(Fatal):
        await asyncio.wait_for(task, 5)  # nothing is ever delivered
    assert acked == []


async def test_while_redis_is_down_the_batch_waits_and_is_decided_when_it_returns():
    h = Harness.build()
    t = h.clock.now_ms
    h.certs.failures = [RedisConnectionError("refused"), TableNotLoaded("not loaded")]
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    assert h.certs.calls == 3  # two failures, then the read that decided
    assert len(h.send.on(h.settings.topics.decisions)) == 1


async def test_while_redis_is_down_nothing_is_decided():
    h = Harness.build()
    t = h.clock.now_ms
    h.certs.failures = [RedisConnectionError("refused")] * 1000
    task = asyncio.ensure_future(
        h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    )
    await asyncio.sleep(0.3)
    assert h.send.sent == [] and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_while_the_breaker_is_open_decisions_are_held_without_actions_or_state():
    settings = dataclasses.replace(Settings.from_env({}), breaker_floor=2, breaker_window_s=10)
    h = Harness.build(settings=settings)
    t = h.clock.now_ms
    records = [h.record("live", stream_started(f"c{i}", f"e{i}", t)) for i in range(4)]
    await h.processor.process(records)
    decisions = [s.json() for s in h.send.on(h.settings.topics.decisions)]
    held = [d for d in decisions if d.get("held")]
    assert held and all(d["held_actions"] and d["action_ids"] for d in held)
    acted = {s.json()["creator_id"] for s in h.send.on(h.settings.topics.actions)}
    assert not acted & {d["creator_id"] for d in held}
    assert not {k.decode() for k in h.states.data} & {d["creator_id"] for d in held}


async def test_decisions_are_chained_per_partition():
    from pipeline.domain.audit import GENESIS, verify_hash

    h = Harness.build()
    t = h.clock.now_ms
    await h.processor.process([h.record("live", stream_started(f"c{i}", f"e{i}", t),
                                        partition=i % 2) for i in range(4)])  # fmt: skip
    by_partition: dict[int, list[dict]] = {}
    for s in h.send.on(h.settings.topics.decisions):
        by_partition.setdefault(s.partition, []).append(s.json())
    for records in by_partition.values():
        assert records[0]["prev_hash"] == GENESIS
        assert all(verify_hash(r) for r in records)
        assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]


async def test_a_failed_changelog_write_stops_the_worker_without_acking():
    """Issue 12 item 10: the state write's delivery must succeed before the ack."""
    h = Harness.build()
    t = h.clock.now_ms
    await h.processor.resume({0})
    h.states.fail_delivery = TimeoutError("changelog request timed out")
    acked, ack = recording_ack()
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))], ack)
    task = next(iter(h.processor.completions))
    with pytest.raises(Fatal):
        await task
    assert acked == []


async def test_expiry_checks_are_applied_from_the_batch_entry_with_its_state():
    """Issue 12 item 11: the check and the state that says decided are in one outbox entry,
    so no crash point between them loses a check."""
    h = Harness.build()
    t = h.clock.now_ms
    h.certs.table["c1"] = {"health": health_cert(t)}
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    assert h.schedule.added and h.schedule.added[0][1][0].domain == "health"
    assert h.states.writes == [(b"c1", 0)]


class Group:
    """The consumer group as the fence sees it: the generation since which this worker's
    partitions have been its own; None once they moved to another worker."""

    def __init__(self) -> None:
        self.generation: int | None = 1

    def __call__(self, record) -> bool:
        return self.generation is not None and self.generation <= record.generation


async def test_a_batch_of_an_older_generation_is_dropped_unacked_before_deciding():
    group = Group()
    h = Harness.build(fence=group)
    t = h.clock.now_ms
    group.generation = 2
    acked, ack = recording_ack()
    await h.processor.process([h.record("live", stream_started("c1", "e1", t), generation=1)],
                              ack)  # fmt: skip
    await settle()
    assert h.send.sent == [] and acked == [] and h.states.writes == []


async def test_a_rebalance_while_waiting_for_redis_decides_nothing_when_redis_returns():
    """Issue 12 item 12: the zombie after a long Redis outage writes nothing."""
    group = Group()
    h = Harness.build(fence=group)
    t = h.clock.now_ms
    h.certs.failures = [RedisConnectionError("refused")] * 3
    task = asyncio.ensure_future(
        h.processor.process([h.record("live", stream_started("c1", "e1", t), generation=1)])
    )
    await asyncio.sleep(0.01)
    group.generation = None  # evicted: the group rebalances without this worker's batch
    await asyncio.wait_for(task, 5)
    assert h.certs.calls == 4  # Redis is back ...
    assert h.send.sent == [] and h.states.writes == []  # ... and nothing was decided


async def test_a_batch_fenced_before_it_is_applied_is_finished_from_its_entry_by_the_next_owner():
    group = Group()
    h = Harness.build(fence=group)
    t = h.clock.now_ms
    acked: list[str] = []

    def acker(name: str):
        async def ack() -> None:
            acked.append(name)

        return ack

    event = stream_started("c1", "e1", t)
    await h.processor.process([h.record("live", event, generation=1)], acker("old"))
    group.generation = None  # the rebalance starts while its entry is being written
    await settle()
    assert acked == [] and h.states.writes == [] and h.send.sent == []
    h.processor.forget({0})  # lost in that rebalance ...
    group.generation = 2  # ... and back in the next one: the event is redelivered
    await h.processor.process([h.record("live", event, generation=2)], acker("new"))
    await settle()
    # The fenced batch's entry was finished first (its state, its records byte for byte);
    # the redelivered event is then a duplicate.
    assert acked == ["new"] and h.states.writes == [(b"c1", 0)]
    decisions = [s.json() for s in h.send.on(h.settings.topics.decisions)]
    assert [d["event_id"] for d in decisions] == ["e1"]


async def test_an_unreadable_certification_is_a_dead_letter_for_that_creator_only():
    from pipeline.adapters.certstore import Unreadable

    h = Harness.build()
    t = h.clock.now_ms
    real = h.certs.get_many

    async def get_many(creators):
        found = await real(creators)
        found["bad"] = Unreadable("livegate:cert:bad", "field 'health': bad certification value")
        return found

    h.certs.get_many = get_many  # type: ignore[method-assign]
    await h.processor.process([h.record("live", stream_started("bad", "e1", t)),
                               h.record("live", stream_started("ok", "e2", t))])  # fmt: skip
    dead = [s.json() for s in h.send.on(h.settings.topics.dlq)]
    assert [(d["error"], d["key"]) for d in dead] == [("bad_certification", "bad")]
    assert "livegate:cert:bad" in dead[0]["detail"]
    decided = [s.json()["creator_id"] for s in h.send.on(h.settings.topics.decisions)]
    assert decided == ["ok"]


def previous_version(h: Harness) -> None:
    """What a worker of the version before the outbox leaves: a decision in the log, no
    state, no outbox, no decided ids; and the worker that takes over is a new one."""
    h.states.data.clear()
    h.ids.data.clear()
    h.send.sent.clear()
    h.processor.forget({0})


class FakeRecent:
    """RecentDecisions without the broker: what the test puts in its index."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.by_creator: dict = {}

    async def ensure(self, partitions) -> None:
        pass

    def get(self, creator_id, event_id):
        return self.index.get((creator_id, event_id))

    def take(self, creator_id):
        return self.by_creator.pop(creator_id, [])


async def test_a_logged_decision_its_state_lacks_is_decided_again_before_the_next_event():
    """A worker decided e1 (logged) and stopped before writing the state; the next owner reads
    the creator's report first. e1 is decided again (identical) before the report, so the
    report reads a state that has e1, and the log's decisions follow each other."""
    import msgspec

    from pipeline.domain.certifications import Certification
    from pipeline.engine.recovery import Recorded

    group, recent = Group(), FakeRecent()
    h = Harness.build(fence=group)
    h.processor.recent = h.processor.decider.recent = recent  # type: ignore[assignment]
    t = h.clock.now_ms
    started = stream_started("c1", "e1", t, category="health")  # unqualified: deducted
    live = h.record("live", started, generation=1)
    await h.processor.process([live], None)  # decided, then fenced before its state
    first = h.send.on(h.settings.topics.decisions)[0].json()
    assert h.send.on(h.settings.topics.actions)
    previous_version(h)

    certs = msgspec.convert(first["certifications"], dict[str, Certification])
    source = (f"{live.topic}:{live.partition}", live.offset)
    rec = Recorded(certs, first["decided_at"], first["policy_version"], first["state_before"],
                   "e1", first["event"], source)  # fmt: skip
    recent.index[("c1", "e1")] = rec
    recent.by_creator["c1"] = [rec]
    report = {"type": "report", "event_id": "r1", "ts": t + 1, "creator_id": "c1",
              "source": "user", "reason": "unqualified_professional", "reporter_id": "u1",
              "stream_id": "s1"}  # fmt: skip
    await h.processor.process([h.record("reports", report, generation=1)], None)
    out = [s.json() for s in h.send.on(h.settings.topics.decisions)]
    assert [d["event_id"] for d in out] == ["e1", "r1"]
    strip = ("prev_hash", "hash", "seal")
    assert {k: v for k, v in out[0].items() if k not in strip} == {
        k: v for k, v in first.items() if k not in strip
    }
    # The report read a state with e1's deduction in it.
    assert out[1]["state_before"]["credit"] < first["state_before"]["credit"]
    # e1's own record, redelivered, is a duplicate now: nothing more is emitted.
    h.send.sent.clear()
    await h.processor.process([live], None)
    assert h.send.on(h.settings.topics.decisions) == []


async def test_a_logged_decision_of_another_policy_version_is_not_decided_first():
    """Decided first with today's policy, it would be a different record for a logged event:
    it is left for its own redelivery, as the per-event path does. A recorded event that no
    longer decodes is skipped, not a failed batch."""
    import msgspec

    from pipeline.domain.certifications import Certification
    from pipeline.engine.recovery import Recorded

    recent = FakeRecent()
    h = Harness.build()
    h.processor.recent = h.processor.decider.recent = recent  # type: ignore[assignment]
    t = h.clock.now_ms
    live = h.record("live", stream_started("c1", "e1", t, category="health"))
    await h.processor.process([live], None)
    first = h.send.on(h.settings.topics.decisions)[0].json()
    previous_version(h)
    certs = msgspec.convert(first["certifications"], dict[str, Certification])
    source = (f"{live.topic}:{live.partition}", live.offset)
    older = Recorded(certs, first["decided_at"], "an-older-policy", first["state_before"],
                     "e1", first["event"], source)  # fmt: skip
    # And the worst a log tail can hold: a recorded event that does not decode any more.
    broken = Recorded(certs, first["decided_at"], first["policy_version"], first["state_before"],
                      "e0", {"type": "no_such_event", "creator_id": "c1"}, source)  # fmt: skip
    recent.by_creator["c1"] = [older, broken]
    report = {"type": "report", "event_id": "r1", "ts": t + 1, "creator_id": "c1",
              "source": "user", "reason": "unqualified_professional", "reporter_id": "u1",
              "stream_id": "s1"}  # fmt: skip
    await h.processor.process([h.record("reports", report)], None)
    assert [s.json()["event_id"] for s in h.send.on(h.settings.topics.decisions)] == ["r1"]


async def test_an_event_whose_decision_is_in_the_log_gets_exactly_that_decision_again():
    """CONTRACT v2 §2: re-applied from the record, not decided with today's certifications."""
    import msgspec

    from pipeline.domain.certifications import Certification
    from pipeline.engine.recovery import Recorded

    group, recent = Group(), FakeRecent()
    h = Harness.build(fence=group, auto_deliver=False)
    h.processor.recent = h.processor.decider.recent = recent  # type: ignore[assignment]
    t = h.clock.now_ms
    h.certs.table["c1"] = {"health": health_cert(t)}
    event = stream_started("c1", "e1", t)
    acked, ack = recording_ack()
    await h.processor.process([h.record("live", event, generation=1)], ack)
    await settle()
    first = h.send.on(h.settings.topics.decisions)[0].json()
    assert first["outcome"] == "allow"
    h.send.deliver_all()
    await settle()
    previous_version(h)  # as if a worker of the previous version had decided it, and died
    h.states.writes.clear()
    acked.clear()
    # Meanwhile the qualification is revoked, and the clock moves on.
    h.certs.table["c1"] = {}
    h.clock.now_ms += 60_000
    certs = msgspec.convert(first["certifications"], dict[str, Certification])
    recent.index[("c1", "e1")] = Recorded(certs, first["decided_at"], first["policy_version"])
    group.generation = 2
    h.send.sent.clear()
    await h.processor.process([h.record("live", event, generation=2)], ack)
    await settle()
    h.send.deliver_all()
    await settle()
    assert acked == [1] and h.states.writes == [(b"c1", 0)]
    again = h.send.on(h.settings.topics.decisions)[0].json()
    strip = ("prev_hash", "hash", "seal", "source", "record_ts")  # the fake record is new
    assert {k: v for k, v in again.items() if k not in strip} == {
        k: v for k, v in first.items() if k not in strip
    }
    assert h.send.on(h.settings.topics.actions) == []  # still allowed: no cut-off


async def test_a_batch_of_several_partitions_is_decided_in_event_time_order():
    """Reports fetched in the same batch as the stream start they follow, but listed first
    (another topic: Kafka orders records only within a partition), are decided after it;
    each partition's own records keep their order."""
    h = Harness.build()
    t = h.clock.now_ms - 60_000
    start = stream_started("c1", "e-start", t, category="gaming")
    start["title"] = "Doctor explains a cure for back pain"  # suspected health
    reports = [
        {"event_id": f"e-r{n}", "type": "report", "ts": t + 1000 * (n + 1), "creator_id": "c1",
         "source": "user", "reporter_id": f"u{n}", "stream_id": "s1",
         "reason": "unqualified_professional_content"}
        for n in range(5)
    ]  # fmt: skip
    batch = [h.record("reports", r) for r in reports] + [h.record("live", start)]
    await h.processor.process(batch)
    topics = h.settings.topics
    decided = [s.json()["event_id"] for s in h.send.on(topics.decisions)]
    assert decided == ["e-start"] + [f"e-r{n}" for n in range(5)]
    actions = [s.json()["action"] for s in h.send.on(topics.actions)]
    # The default policy: five distinct reporters on a live stream of an uncertified creator.
    assert actions.count("cut_off_stream") == 1


def test_the_merge_by_event_time_keeps_each_partitions_order():
    from pipeline.adapters.records import Record
    from pipeline.engine.decoding import in_event_time_order

    class Ev:
        def __init__(self, ts: int) -> None:
            self.ts = ts

    def item(topic: str, partition: int, offset: int, ts: int):  # type: ignore[no-untyped-def]
        return (Record(topic, partition, offset, b"k", b"v", 0, "x", 0), Ev(ts))

    a = [item("a", 0, 0, 50), item("a", 0, 1, 10), item("a", 0, 2, 60)]  # late ts at offset 1
    b = [item("b", 0, 0, 20), item("b", 0, 1, 55)]
    merged = in_event_time_order([*a, *b])  # type: ignore[arg-type]
    places = [(r.topic, r.offset) for r, _ in merged]
    assert places == [("b", 0), ("a", 0), ("a", 1), ("b", 1), ("a", 2)]
    # Within each partition the offsets stay in order, whatever the ts.
    for topic in ("a", "b"):
        offsets = [o for t, o in places if t == topic]
        assert offsets == sorted(offsets)
    single = a[:]
    assert in_event_time_order(single) is single  # one partition: as it is


async def test_a_worker_resumed_after_a_freeze_writes_no_outbox_claim():
    """A frozen worker that rejoins gets an assignment, but its store may not be restored
    yet; its claim (the newest generation's) would make the next owner drop every entry
    written meanwhile and restart the chain at its stale head (issue 21's fault run)."""
    h = Harness.build()
    t = h.clock.now_ms
    await h.processor.resume({0})
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    before = dict(h.states.data)
    h.processor.watch.frozen_for = 15.0  # the loop stood still past the session timeout
    with pytest.raises(Fatal):
        await h.processor.resume({1})
    assert h.states.data == before
    assert 1 not in h.processor.completer.resumed


async def test_a_resume_whose_claim_is_never_delivered_is_retried_whole_not_waited_for_ever():
    """The claim at a resume fences the previous owners' late entries. librdkafka never
    expires a record: a claim the broker never acknowledges ends at the worker's patience,
    and the resume is tried again from the start, not left half done (its chain head lost)."""
    h = Harness.build()
    h.processor.completer.delivery_timeout_s = 0.05
    h.states.held = []  # the broker takes nothing
    resuming = asyncio.ensure_future(h.processor.resume({0}))
    await asyncio.sleep(0.3)  # past the patience: the claim is written again
    assert not resuming.done()
    assert 0 not in h.processor.completer.resumed
    for delivery in h.states.held:  # the broker is back
        if not delivery.done():
            delivery.set_result(None)
    h.states.held = None
    await asyncio.wait_for(resuming, 5)
    assert 0 in h.processor.completer.resumed and 0 in h.processor.decider.heads
    t = h.clock.now_ms
    await h.processor.process([h.record("live", stream_started("c1", "e1", t))])
    assert len(h.send.on(h.settings.topics.decisions)) == 1


async def test_a_batch_decided_on_top_of_a_fenced_one_is_fenced_too_and_both_finish_in_order():
    """Two batches in flight; the first also holds a record of a partition lost in a
    rebalance, so it is fenced before it is applied. The second, decided on top of it, must
    not be applied before it: the kept partition's next resume sends both entries, in order
    (a fault run once saw a decision of an older offset after a newer one, states set back)."""
    lost = {1: False}
    h = Harness.build(fence=lambda r: not (r.partition == 1 and lost[1]))
    outbox = PartitionedStore()  # each partition's outbox its own (the same slot keys)
    h.processor.completer.outbox = outbox  # type: ignore[assignment]
    t = h.clock.now_ms
    await h.processor.resume({0, 1})
    outbox.held = []  # the outbox entries wait for the broker: both batches in flight
    acked: list[str] = []

    def acker(name: str):
        async def ack() -> None:
            acked.append(name)

        return ack

    first = [h.record("live", stream_started("c1", "e1", t), partition=0),
             h.record("live", stream_started("c2", "e2", t), partition=1)]  # fmt: skip
    await h.processor.process(first, acker("first"))
    second = [h.record("live", stream_started("c1", "e3", t + 1, category="finance"))]
    await h.processor.process(second, acker("second"))
    await settle()
    lost[1] = True  # partition 1 moves to another worker
    held, outbox.held = outbox.held, None
    for delivery in held:
        delivery.set_result(None)
    await settle()
    await settle()
    assert acked == [] and h.send.on(h.settings.topics.decisions) == []
    # Partition 0 stays: its next batch first finishes both entries, in order.
    await h.processor.process(
        [h.record("live", stream_started("c1", "e4", t + 2, category="law"))], acker("third")
    )
    await settle()
    decided = [s.json()["event_id"] for s in h.send.on(h.settings.topics.decisions)]
    assert decided == ["e1", "e3", "e4"]
    assert acked == ["third"]


class PartitionedStore:
    """A changelogged store whose keys live per partition, as RocksDB's databases do;
    deliveries held in `held` while it is a list."""

    def __init__(self) -> None:
        self.data: dict[tuple[int, bytes], bytes] = {}
        self.held: list[asyncio.Future[None]] | None = None

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        return self.data.get((partition if partition is not None else -1, key))

    async def set_many(
        self, writes: list[tuple[bytes, bytes | None, int]]
    ) -> list[asyncio.Future[None]]:
        out = []
        for key, value, partition in writes:
            if value is None:
                self.data.pop((partition, key), None)
            else:
                self.data[(partition, key)] = value
            delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self.held is not None:
                self.held.append(delivery)
            else:
                delivery.set_result(None)
            out.append(delivery)
        return out


def test_a_processor_without_a_sender_is_refused_at_once():
    from pipeline.bench.engine_harness import (
        FakeCerts,
        FakeChain,
        FakeSchedule,
        FakeStates,
        default_policy,
    )  # fmt: skip
    from pipeline.engine.processor import Processor

    with pytest.raises(ValueError, match="send_many or send"):
        Processor(
            Settings.from_env({}), default_policy(), FakeCerts(), FakeStates(), None,  # type: ignore[arg-type]
            FakeChain(), lambda topic: None, FakeSchedule(),  # type: ignore[arg-type]
        )  # fmt: skip
