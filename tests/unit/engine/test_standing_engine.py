"""The review loop in the engine, driven with fakes: a verdict naming what the creator never
had is a dead letter (no decision, no state), and the standing hook's records go out with
the decision's."""

from __future__ import annotations

from pipeline.bench.engine_harness import Harness, stream_started
from pipeline.engine.standing import StandingHook
from tests.helpers import signed


def verdict(creator: str, eid: str, ts: int, review_id: str, verdict: str = "dismiss") -> dict:
    return signed({"event_id": eid, "type": "review_decided", "ts": ts, "creator_id": creator,
                   "review_id": review_id, "verdict": verdict, "reviewer_id": "rev-1"})  # fmt: skip


async def test_an_unknown_review_is_a_dead_letter_and_decides_nothing():
    h = Harness.build()
    t = h.clock.now_ms
    topic = h.settings.topics.reviews
    await h.processor.process([h.record("reviews", verdict("c1", "v1", t, "f" * 64), topic=topic)])
    (dead,) = [s.json() for s in h.send.on(h.settings.topics.dlq)]
    assert dead["error"] == "unknown_reference" and "no review item" in dead["detail"]
    assert dead["topic"] == topic and dead["key"] == "c1"
    assert h.send.on(h.settings.topics.decisions) == [] and h.states.writes == []


async def test_the_standing_hook_sends_the_snapshot_and_queue_items():
    h = Harness.build()
    h.processor.hooks.append(StandingHook(h.settings))
    t = h.clock.now_ms
    topics = h.settings.topics
    flagged = stream_started("c1", "e1", t - 1000, category="gaming")
    flagged["title"] = "ask a doctor"
    await h.processor.process([h.record("live", flagged)])
    (item,) = [s.json() for s in h.send.on(topics.queue)]
    assert item["status"] == "open" and item["rule_id"] == "live.suspected"
    (snap,) = [s.json() for s in h.send.on(topics.restrictions)]
    assert snap["recommendation_limited_until"] == t - 1000 + 86_400_000
    await h.processor.process(
        [h.record("reviews", verdict("c1", "v1", t, item["review_id"]), topic=topics.reviews)]
    )
    closed = h.send.on(topics.queue)[-1].json()
    assert (closed["status"], closed["verdict"]) == ("closed", "dismiss")
    assert h.send.on(topics.restrictions)[-1].json()["recommendation_limited_until"] is None
    lifts = [s.json() for s in h.send.on(topics.actions) if s.json().get("lifts")]
    assert [a["action"] for a in lifts] == ["lift_recommendation_limit"]
