"""decide(): duplicates, outcomes, deterministic ids, and replays from the recorded state."""

import hashlib

import msgspec
import pytest

from pipeline.domain.actions import action_id, encode_action
from pipeline.domain.decide import decide
from pipeline.domain.state import (
    CreatorState,
    decode_state,
    encode_state,
    state_from_view,
    state_view,
)  # fmt: skip
from tests.unit.domain.builders import (
    CREATOR,
    HOUR,
    POLICY,
    T0,
    cert,
    certs,
    ended,
    granted,
    linked,
    report,
    revoked,
    run,
    run_all,
    started,
    state,
    stream,
    unlinked,
    updated,
)  # fmt: skip


def test_a_duplicate_event_id_a_state_of_an_earlier_version_knows_is_not_decided_again():
    # The engine keeps decided ids (tests/unit/engine/test_dedupe.py); a state written by an
    # earlier version still holds its own, and they count until they move there.
    first = run(started(category="health"))
    legacy = msgspec.structs.replace(first.new_state, decided={"e-start": T0})
    assert decide(started(category="health"), {}, legacy, POLICY, T0 + 9) is None
    # Even with different content: the event_id is the idempotency key.
    assert decide(started(category="law"), {}, legacy, POLICY, T0 + 9) is None


def test_an_unknown_creator_starts_fresh():
    d = run(started(category="gaming"))
    assert d.new_state.credit == 12
    assert d.new_state.decided == {}  # decided ids are the engine's


@pytest.mark.parametrize(
    ("case", "event", "certifications", "st", "outcome"),
    [
        ("nothing fires", started(category="gaming"), {}, None, "allow"),
        ("stream ended", ended(), {}, None, "allow"),
        ("product unlinked", unlinked(), {}, None, "allow"),
        ("certification granted", granted(), certs("health"), None, "allow"),
        ("only a warning", report("inspection", domain="health"), certs("health"), None,
         "review"),
        ("only a flag", report("machine", confidence=0.95, domain="law", stream=None), {}, None,
         "review"),
        ("a limit", report("machine", confidence=0.7, domain="law"), {}, None, "enforce"),
        ("a cut-off", started(category="health"), {}, None, "enforce"),
        ("a lapse", revoked(), certs(health=cert(status="revoked")),
         state(streams={"s1": stream("health")}), "enforce"),
    ],
)  # fmt: skip
def test_outcome(case, event, certifications, st, outcome):
    d = run(event, certifications, st)
    assert d.outcome == outcome, case
    assert (d.outcome == "allow") == (d.actions == [])


def test_action_ids_are_deterministic_and_cover_rule_action_creator_subject_trigger():
    a = run(started("s1", category="health"), now=T0 + 1)
    b = run(started("s1", category="health"), now=T0 + 999)
    assert [x.action_id for x in a.actions] == [x.action_id for x in b.actions]
    cut = next(x for x in a.actions if x.action == "cut_off_stream")
    expected = hashlib.sha256(
        "\x1f".join(["live.unqualified", "cut_off_stream", CREATOR, "s1", "e-start"]).encode()
    ).hexdigest()
    assert (
        cut.action_id
        == expected
        == action_id("live.unqualified", "cut_off_stream", CREATOR, "s1", "e-start")
    )
    threshold = next(x for x in a.actions if x.rule_id == "credit.limit_recommendation")
    assert threshold.action_id == action_id(
        "credit.limit_recommendation", "limit_recommendation", CREATOR, CREATOR, "e-start"
    )
    assert len({x.action_id for x in a.actions}) == len(a.actions)


def test_every_action_carries_the_decision_context():
    d = run(linked("drug", link="L1"), now=T0 + 42)
    for a in d.actions:
        assert (a.policy_version, a.event_ts, a.decided_at, a.evidence) == (
            POLICY.version, T0, T0 + 42, ("e-link",),
        )  # fmt: skip
        assert a.reason.endswith(".") and a.reason[0].isupper()
    assert d.rule_ids == ["commerce.unqualified_product"]


def test_action_json_leaves_out_absent_fields_but_keeps_a_null_duration():
    d = run(linked("general"), certs("health"))
    by_name = {a.action: msgspec.json.decode(encode_action(a)) for a in d.actions}
    assert (
        "duration_s" in by_name["revoke_commerce"]
        and by_name["revoke_commerce"]["duration_s"] is None
    )
    assert "duration_s" not in by_name["warn"]
    assert "points" not in by_name["warn"] and "stream_id" not in by_name["warn"]
    assert by_name["remove_product_link"]["link_id"] == "l1"


def test_the_input_state_is_never_modified():
    st = state(streams={"s1": stream("health")}, medical_links=1)
    before = encode_state(st)
    run(revoked(), certs(health=cert(status="revoked")), st)
    run(linked("general", eid="x"), certs("health"), st)
    assert encode_state(st) == before


def test_state_before_is_read_after_idle_streams_are_forgotten():
    st = state(streams={"old": stream("gaming", ts=T0 - 25 * HOUR), "new": stream("gaming")})
    d = run(report("machine", confidence=0.1, domain="law"), {}, st)
    assert set(d.state_before["streams"]) == {"new"}
    assert "decided" not in d.state_before
    assert set(d.new_state.streams) == {"new"}


def test_the_certifications_used_are_recorded():
    d = run(started(category="health"), certs("health"))
    assert d.certifications["health"]["status"] == "active"
    assert d.certifications["health"]["valid_until"] == cert().valid_until


def test_a_replay_from_the_recorded_state_decides_identically():
    history = [
        started("a", category="gaming", title="ask a doctor", eid="1"),
        started("b", category="finance", eid="2", ts=T0 + 1),
        linked("drug", eid="3", ts=T0 + 2),
        *[report(reporter=f"u{i}", stream="a", eid=f"r{i}", ts=T0 + 3 + i) for i in range(5)],
        updated("a", category="health", eid="4", ts=T0 + 10),
    ]
    decisions = run_all(history)
    for original, event in zip(decisions, history, strict=True):
        rebuilt = state_from_view(original.state_before)
        assert state_view(rebuilt) == original.state_before
        again = run(event, {}, rebuilt, now=event.ts + 5)
        assert [encode_action(a) for a in again.actions] == [
            encode_action(a) for a in original.actions
        ]
        assert state_view(again.new_state) == state_view(original.new_state)


def test_state_json_round_trip():
    d = run_all([started(category="health"), linked("drug", eid="e2", ts=T0 + 1)])[-1]
    assert decode_state(encode_state(d.new_state)) == d.new_state
    view = msgspec.json.decode(msgspec.json.encode(state_view(d.new_state)))
    assert state_view(state_from_view(view)) == state_view(d.new_state)


def test_a_state_keeps_no_decided_ids_however_many_events():
    st = CreatorState.new(POLICY)
    for i in range(50):
        st = run(unlinked(eid=f"e{i}", ts=T0 + i), {}, st).new_state
    assert st.decided == {} and st.newest_ts == T0 + 49


def test_one_event_never_cuts_a_stream_or_removes_a_link_twice():
    live = {"s1": stream("health")}
    for ev in [
        report("inspection", domain="health"),
        report("machine", confidence=0.99, domain="health"),
        revoked(),
    ]:
        d = run(ev, certs(health=cert(status="revoked")), state(streams=live))
        cuts = [a.stream_id for a in d.actions if a.action == "cut_off_stream"]
        assert cuts == ["s1"]


def test_a_replay_from_canonical_records_evicts_what_the_worker_evicted_past_the_caps():
    """The record's state_before is canonical JSON (sorted keys): a state rebuilt from it
    has another dict order, so every cap must evict by time, never by insertion order
    (the Redis-outage fault scenario caught enforcements evicted differently)."""
    from pipeline.domain.audit import canonical_json

    st = None
    ids = [f"e-{n}" for n in range(POLICY.max_enforcements + 12)]
    ids.sort(key=lambda e: -int(e.split("-")[1]))  # sorted keys differ from arrival order
    for n, eid in enumerate(reversed(ids)):
        ev = linked("drug", link=f"l{n}", ts=T0 + n * 1000, eid=eid)
        live = decide(ev, {}, st, POLICY, ev.ts + 5)
        assert live is not None
        replayed_from = state_from_view(msgspec.json.decode(canonical_json(live.state_before)))
        replay = decide(ev, {}, replayed_from, POLICY, ev.ts + 5)
        assert replay is not None
        assert state_view(replay.new_state) == state_view(live.new_state), eid
        st = live.new_state
    assert len(st.enforcements) == POLICY.max_enforcements
