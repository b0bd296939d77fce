"""Decoding input events (CONTRACT §2) and the dead-letter codes of §6."""

import contextlib
import json
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.errors import InvalidEvent
from pipeline.domain.events import (
    KIND_OF_TYPE,
    StreamStarted,
    decode_event,
    encode_event,
    event_to_builtins,
    event_type,
)
from tests.unit.domain.builders import (
    CREATOR,
    T0,
    appeal,
    appeal_verdict,
    ended,
    expiry,
    granted,
    linked,
    report,
    review,
    revoked,
    started,
    unlinked,
    updated,
)  # fmt: skip

KEY = CREATOR.encode()
EVERY_TYPE = [
    started(title="中医养生"),
    updated(category="health"),
    updated(title="only a title"),
    ended(),
    linked("drug", "live"),
    linked("course", "short_video"),
    unlinked(),
    report("user", reporter="u1"),
    report("inspection", domain="law", stream=None),
    report("machine", confidence=0.75, domain="health"),
    granted(),
    revoked(),
    expiry(),
    expiry(stream=None),
    review("f" * 64, "confirm", note="clear case"),
    review("f" * 64, "dismiss"),
    appeal("a" * 64),
    appeal("a" * 64, statement=None),
    appeal_verdict("uphold"),
    appeal_verdict("overturn"),
]


@pytest.mark.parametrize("event", EVERY_TYPE, ids=lambda e: event_type(e))
def test_round_trip_of_every_type(event):
    kind = KIND_OF_TYPE[event_type(event)]
    assert decode_event(kind, KEY, encode_event(event)) == event
    # The decision record's "event" must decode back to the same event.
    as_json = json.dumps(event_to_builtins(event)).encode()
    assert decode_event(kind, KEY, as_json) == event
    assert event_to_builtins(event)["type"] == event_type(event)


def test_defaults_and_unknown_fields():
    raw = {"type": "stream_started", "event_id": "e1", "ts": 1, "creator_id": CREATOR,
           "stream_id": "s", "category": "gaming", "future_field": {"x": [1, 2]}}  # fmt: skip
    ev = decode_event("live", KEY, json.dumps(raw).encode())
    assert ev == StreamStarted(
        event_id="e1", ts=1, creator_id=CREATOR, stream_id="s", category="gaming"
    )
    assert ev.platform is None and ev.title is None  # v3: a missing platform is the creator's


def live(**fields):
    base = {"type": "stream_started", "event_id": "e1", "ts": T0, "creator_id": CREATOR,
            "stream_id": "s1", "category": "health"}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not DROP}).encode()


def report_json(**fields):
    base = {"type": "report", "event_id": "e1", "ts": T0, "creator_id": CREATOR,
            "source": "user", "reason": "x", "reporter_id": "u1"}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not DROP}).encode()


DROP = object()


def verdict_json(**fields):
    base = {"type": "review_decided", "event_id": "e1", "ts": T0, "creator_id": CREATOR,
            "review_id": "r1", "verdict": "confirm", "reviewer_id": "rev-1"}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not DROP}).encode()


@pytest.mark.parametrize(
    ("case", "kind", "key", "value", "code"),
    [
        ("over the size limit", "live", KEY, live(title="x" * 70000), "too_large"),
        ("truncated JSON", "live", KEY, b'{"type": "stream_started"', "invalid_json"),
        ("empty value", "live", KEY, b"", "invalid_json"),
        ("NaN is not JSON", "reports", KEY, report_json(source="machine").replace(
            b'"reporter_id"', b'"confidence": NaN, "reporter_id"'), "invalid_json"),
        ("invalid UTF-8 in a known field", "live", KEY, live(title="ab").replace(b"ab", b"\xff"),
         "invalid_json"),
        ("invalid UTF-8 in an unknown field", "live", KEY,
         live()[:-1] + b', "junk": "\xc3\x28"}', "invalid_json"),
        ("a JSON array", "live", KEY, b"[1, 2]", "invalid_json"),
        ("a JSON string", "live", KEY, b'"stream_started"', "invalid_json"),
        ("a byte-order mark", "live", KEY, b"\xef\xbb\xbf" + live(), "invalid_json"),
        ("deeply nested unknown field", "live", KEY,
         live()[:-1] + b', "deep": ' + b"[" * 20000 + b"]" * 20000 + b"}", "invalid_json"),
        ("type not of this topic", "live", KEY, live(type="stream_paused"), "unknown_type"),
        ("report on the live topic", "live", KEY, report_json(), "unknown_type"),
        ("stream event on the reports topic", "reports", KEY, live(), "unknown_type"),
        ("type missing", "live", KEY, live(type=DROP), "schema"),
        ("type not a string", "live", KEY, live(type=7), "schema"),
        ("stream_id missing", "live", KEY, live(stream_id=DROP), "schema"),
        ("event_id with a space", "live", KEY, live(event_id="a b"), "schema"),
        ("event_id empty", "live", KEY, live(event_id=""), "schema"),
        ("event_id of 129 chars", "live", KEY, live(event_id="e" * 129), "schema"),
        ("creator_id pattern", "live", b"c/1", live(creator_id="c/1"), "schema"),
        ("ts negative", "live", KEY, live(ts=-1), "schema"),
        ("ts a float", "live", KEY, live(ts=1.5), "schema"),
        ("ts a string", "live", KEY, live(ts="1"), "schema"),
        ("ts beyond 64 bits", "live", KEY, live(ts=2**64), "schema"),
        ("huge number", "live", KEY, live(ts=10**400), "schema"),
        ("title of 513 chars", "live", KEY, live(title="x" * 513), "schema"),
        ("category null", "live", KEY, live(category=None), "schema"),
        ("update without category or title", "live", KEY,
         live(type="stream_updated", category=DROP), "schema"),
        ("unknown surface", "commerce", KEY, json.dumps({
            "type": "product_linked", "event_id": "e", "ts": 1, "creator_id": CREATOR,
            "link_id": "l", "product_id": "p", "surface": "tv",
            "product_category": "drug"}).encode(),
         "schema"),
        ("live surface without stream_id", "commerce", KEY, json.dumps({
            "type": "product_linked", "event_id": "e", "ts": 1, "creator_id": CREATOR,
            "link_id": "l", "product_id": "p", "surface": "live",
            "product_category": "drug"}).encode(),
         "schema"),
        ("user report without reporter", "reports", KEY, report_json(reporter_id=DROP), "schema"),
        ("machine report without confidence", "reports", KEY,
         report_json(source="machine", reporter_id=DROP), "schema"),
        ("confidence above 1", "reports", KEY,
         report_json(source="machine", confidence=1.5), "schema"),
        ("confidence infinite", "reports", KEY,
         report_json(source="machine").replace(
             b'"reporter_id"', b'"confidence": 1e999, "reporter_id"'),
         "schema"),
        ("unknown source", "reports", KEY, report_json(source="rumour"), "schema"),
        ("unknown report domain", "reports", KEY, report_json(domain="art"), "schema"),
        ("grant valid_from not before valid_until", "certs", KEY, json.dumps({
            "type": "certification_granted", "event_id": "e", "ts": 1, "creator_id": CREATOR,
            "domain": "health", "license_id": "L", "issuer": "I", "valid_from": 5,
            "valid_until": 5}).encode(), "schema"),
        ("grant for an unknown domain", "certs", KEY, json.dumps({
            "type": "certification_granted", "event_id": "e", "ts": 1, "creator_id": CREATOR,
            "domain": "art", "license_id": "L", "issuer": "I", "valid_from": 1,
            "valid_until": 5}).encode(), "schema"),
        ("verdict without reviewer_id", "reviews", KEY, verdict_json(reviewer_id=DROP),
         "schema"),
        ("appeal verdict without reviewer_id", "reviews", KEY, verdict_json(
            type="appeal_decided", review_id=DROP, appeal_id="a1", verdict="uphold",
            reviewer_id=DROP), "schema"),
        ("unknown verdict", "reviews", KEY, verdict_json(verdict="maybe"), "schema"),
        ("note over 2000 chars", "reviews", KEY, verdict_json(note="n" * 2001), "schema"),
        ("appeal without action_id", "reviews", KEY, verdict_json(
            type="appeal_filed", review_id=DROP, verdict=DROP, reviewer_id=DROP,
            appeal_id="a1"), "schema"),
        ("a report on the reviews topic", "reviews", KEY, report_json(), "unknown_type"),
        ("missing key", "live", None, live(), "key_mismatch"),
        ("key of another creator", "live", b"someone-else", live(), "key_mismatch"),
        ("key not UTF-8", "live", b"\xff", live(), "key_mismatch"),
    ],
)  # fmt: skip
def test_dead_letter_codes(case, kind, key, value, code):
    with pytest.raises(InvalidEvent) as info:
        decode_event(kind, key, value)
    assert info.value.error == code, (case, info.value.detail)
    assert info.value.detail


def test_size_is_checked_first_and_the_limit_is_configurable():
    with pytest.raises(InvalidEvent) as info:
        decode_event("live", None, b"not json at all", max_bytes=4)
    assert info.value.error == "too_large"
    assert decode_event("live", KEY, live(), max_bytes=len(live())).event_id == "e1"


def test_details_say_what_is_wrong_and_where():
    with pytest.raises(InvalidEvent) as info:
        decode_event("live", KEY, live(stream_id=DROP))
    assert info.value.detail == "missing required field `stream_id` at `$`"
    with pytest.raises(InvalidEvent) as info:
        decode_event("live", KEY, live(ts="x"))
    assert "`$.ts`" in info.value.detail


def test_an_unknown_kind_is_a_programming_error():
    from pipeline.domain.errors import LiveGateError

    with pytest.raises(LiveGateError):
        decode_event("bogus", KEY, live())


HOSTILE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "ts", "event_id", "creator_id", "stream_id",
                                       "category", "title", "x"]), children, max_size=6),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(HOSTILE, st.sampled_from(["live", "commerce", "reports", "certs", "expiries", "reviews"]))
def test_hostile_json_raises_only_invalid_event(value, kind):
    with contextlib.suppress(InvalidEvent):
        decode_event(kind, KEY, json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_hostile_bytes_raise_only_invalid_event(value):
    with contextlib.suppress(InvalidEvent):
        decode_event("live", KEY, value)


def test_mutated_valid_records_raise_only_invalid_event():
    rng = random.Random(7)
    base = bytearray(live(title="ask a doctor"))
    for _ in range(3000):
        mutated = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            ev = decode_event("live", KEY, bytes(mutated))
        except InvalidEvent:
            continue
        assert isinstance(ev, msgspec.Struct)


HOUR = 3_600_000
Y2000 = 946_684_800_000  # 2000-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("ts", "record_ts", "code"),
    [
        (T0, T0, None),
        (T0 + HOUR, T0, None),  # exactly one hour ahead of the record: still accepted
        (T0 + HOUR + 1, T0, "ts_out_of_range"),
        (T0 * 1000, T0, "ts_out_of_range"),  # microseconds by mistake
        (2**63 - 1, T0, "ts_out_of_range"),
        (T0 - 30 * 86_400_000, T0, None),  # old event time is fine (a backlog, a replay)
        (Y2000, T0, None),
        (Y2000 - 1, T0, "ts_out_of_range"),
        (0, T0, "ts_out_of_range"),
        (T0 * 1000, -1, None),  # no record time (-1): the future bound is off …
        (Y2000 - 1, -1, "ts_out_of_range"),  # … but 2000-01-01 still holds
    ],
)
def test_ts_out_of_range_against_the_records_kafka_timestamp(ts, record_ts, code):
    value = live(ts=ts)
    if code is None:
        assert decode_event("live", KEY, value, record_ts_ms=record_ts).ts == ts
        return
    with pytest.raises(InvalidEvent) as info:
        decode_event("live", KEY, value, record_ts_ms=record_ts)
    assert info.value.error == code
    assert str(ts) in info.value.detail


def test_without_a_record_time_any_ts_decodes_as_before():
    # Replays and tools decode recorded events without a record: no range check there.
    assert decode_event("live", KEY, live(ts=1)).ts == 1
