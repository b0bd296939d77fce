"""`livegate breaker release`: which held events are re-sent (issue 12, issue 14)."""

from __future__ import annotations

import json

from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.cli import breaker
from pipeline.cli.breaker import ended_streams, skip_reopening, source_topics
from pipeline.domain.audit import GENESIS, seal

SETTINGS = Settings()
TOPICS = source_topics(SETTINGS)


def _rec(value: dict, partition: int = 0, offset: int = 0, topic: str = "t") -> Record:
    return Record(topic, partition, offset, None, json.dumps(value).encode(), 0)


def _sealed(value: dict, partition: int = 0, key=SETTINGS.seal_key) -> Record:
    body, _ = seal(value, GENESIS, key)
    return Record("t", partition, 0, None, body, 0)


def select(records, start, end):
    return breaker.select(records, start, end, SETTINGS.seal_keys, TOPICS)


def _decision(creator: str, event_id: str, at: int, held: bool = True, **kw) -> Record:
    etype = kw.get("type", "report")
    event = {"event_id": event_id, "creator_id": creator, "type": etype,
             "ts": kw.get("ts", at), "stream_id": kw.get("stream_id")}  # fmt: skip
    topic = kw.get("topic", SETTINGS.topics.reports if etype == "report" else SETTINGS.topics.live)
    return _sealed({"creator_id": creator, "event_id": event_id, "held": held, "decided_at": at,
                    "event_type": event["type"], "event": event,
                    "source": {"topic": topic, "partition": kw.get("p", 0),
                               "offset": kw.get("offset", 0)}}, kw.get("p", 0))  # fmt: skip


def test_the_same_event_id_of_two_creators_is_two_held_decisions():
    sel = select([_decision("a", "e1", 10), _decision("b", "e1", 11)], 0, 100)
    assert sorted(d["creator_id"] for d in sel.send) == ["a", "b"]


def test_only_decided_at_in_the_period_and_not_decided_again():
    sel = select(
        [_decision("a", "e1", 10), _decision("a", "e2", 10), _decision("a", "e3", 200),
         _decision("a", "e2", 50, held=False)],
        0, 100,
    )  # fmt: skip
    assert [d["event_id"] for d in sel.send] == ["e1"]
    assert [(d["event_id"], why.split(" ")[0]) for d, why in sel.skipped] == [("e2", "decided")]


def test_a_held_stream_start_whose_stream_ended_since_is_skipped():
    held = [
        _decision("a", "s1", 10, type="stream_started", stream_id="room1", p=2, offset=5),
        _decision("a", "s2", 10, type="stream_started", stream_id="room2", p=2, offset=6),
        _decision("b", "u1", 10, type="stream_updated", stream_id="room1", p=1, offset=3),
    ]
    live = [
        _rec({"type": "stream_ended", "creator_id": "a", "stream_id": "room1", "ts": 12}, 2, 9),
        _rec({"type": "stream_ended", "creator_id": "a", "stream_id": "room2", "ts": 9}, 2, 4),
    ]
    out = skip_reopening(select(held, 0, 100), ended_streams(live))
    assert sorted(d["event_id"] for d in out.send) == ["s2", "u1"]  # room2 ended before s2
    assert [(d["event_id"], why) for d, why in out.skipped] == [
        ("s1", "stream room1 has ended since")
    ]


def test_only_livegates_sealed_records_are_released():
    """CONTRACT §12: a record with a correct hash but no valid seal re-sends nothing."""
    sealed = _decision("a", "e1", 10)
    forged = json.loads(_decision("b", "e2", 10).value)
    del forged["seal"]
    forged_unsealed, _ = seal({k: v for k, v in forged.items() if k != "hash"}, GENESIS)
    wrong = _decision("c", "e3", 10).value.replace(b'"mac":"', b'"mac":"0')
    records = [
        sealed,
        Record("t", 0, 1, None, forged_unsealed, 0),
        Record("t", 0, 2, None, wrong, 0),
    ]
    sel = select(records, 0, 100)
    assert [d["event_id"] for d in sel.send] == ["e1"]
    assert sel.foreign == [(0, 1), (0, 2)]


def test_records_of_before_v3_are_released_until_the_partition_has_a_sealed_one():
    old = json.loads(_decision("a", "e1", 10).value)
    body = {k: v for k, v in old.items() if k not in ("hash", "seal", "prev_hash")}
    unsealed, _ = seal(body, GENESIS)
    sel = select([Record("t", 0, 0, None, unsealed, 0)], 0, 100)
    assert [d["event_id"] for d in sel.send] == ["e1"] and sel.foreign == []


def test_a_held_record_whose_event_does_not_belong_on_its_topic_is_skipped():
    forged = _decision("a", "e1", 10, type="certification_granted", topic=SETTINGS.topics.reports)
    sel = select([forged], 0, 100)
    assert sel.send == []
    ((_, why),) = sel.skipped
    assert "certification_granted event does not come from topic" in why
