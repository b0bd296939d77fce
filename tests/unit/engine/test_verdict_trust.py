"""Verdicts are authenticated where they take effect (CONTRACT §12), in the engine with
fakes: an unsigned, badly signed or wrong-role verdict is an `unauthenticated` dead letter
and changes nothing; a signed one takes effect, and its decision record is sealed and
carries the input record's timestamp and the signed event as received."""

import pytest

from pipeline.bench.engine_harness import Harness, stream_started
from pipeline.domain.audit import verify_hash
from pipeline.domain.signing import SEALED, seal_status, sign
from tests.helpers import signed


def verdict(review_id: str, ts: int, **more) -> dict:
    return {"event_id": "v1", "type": "review_decided", "ts": ts, "creator_id": "c1",
            "review_id": review_id, "verdict": "confirm", "reviewer_id": "rev-1",
            **more}  # fmt: skip


async def flagged(h: Harness) -> str:
    t = h.clock.now_ms
    ev = stream_started("c1", "e1", t - 1000, category="gaming")
    ev["title"] = "ask a doctor"
    await h.processor.process([h.record("live", ev)])
    (flag,) = [s.json() for s in h.send.on(h.settings.topics.actions)
               if s.json()["action"] == "flag_for_review"]  # fmt: skip
    return flag["action_id"]


@pytest.mark.parametrize(
    ("case", "make", "detail"),
    [
        ("unsigned", lambda v: v, "no `signature`"),
        ("wrong secret", lambda v: sign({**v, "role": "senior"}, "dev", "guessed"),
         "does not verify"),
        ("unknown key id", lambda v: sign({**v, "role": "senior"}, "old", "x"), "does not hold"),
        ("tampered", lambda v: {**signed(v), "verdict": "dismiss"}, "does not verify"),
        ("wrong role", lambda v: signed({**v, "role": "intern"}), "role 'intern'"),
    ],
)  # fmt: skip
async def test_an_unauthenticated_verdict_is_a_dead_letter_and_changes_nothing(case, make, detail):
    h = Harness.build()
    review_id = await flagged(h)
    before = len(h.send.sent)
    writes = list(h.states.writes)
    topic = h.settings.topics.reviews
    await h.processor.process(
        [h.record("reviews", make(verdict(review_id, h.clock.now_ms)), topic=topic)]
    )
    new = h.send.sent[before:]
    assert [s.topic for s in new] == [h.settings.topics.dlq], case
    dead = new[0].json()
    assert dead["error"] == "unauthenticated" and detail in dead["detail"], case
    assert h.states.writes == writes


async def test_a_signed_verdict_takes_effect_and_its_record_is_sealed():
    h = Harness.build()
    review_id = await flagged(h)
    topic = h.settings.topics.reviews
    rec = h.record("reviews", signed(verdict(review_id, h.clock.now_ms)), topic=topic)
    await h.processor.process([rec])
    cut = [s.json() for s in h.send.on(h.settings.topics.actions)]
    assert any(a["rule_id"] == "review.confirmed" for a in cut)
    record = h.send.on(h.settings.topics.decisions)[-1].json()
    assert verify_hash(record) and seal_status(record, h.settings.seal_keys) == SEALED
    assert record["record_ts"] == rec.timestamp_ms
    assert '"signature"' in record["signed"] and record["event"]["reviewer_id"] == "rev-1"
