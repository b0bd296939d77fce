"""Issue 12 item 5 (CONTRACT v2 §2): a redelivered event is never decided again, whatever
the creator's rate. The record's place (offset watermark) catches redeliveries; the engine's
decided-ids store catches the same event under a new offset (a producer retry: tests/unit/
engine/test_dedupe.py). The state keeps no event ids any more; one of an earlier version
still has some, and they still count until they move to the store."""

import msgspec

from pipeline.domain.decide import decide
from pipeline.domain.state import state_view
from tests.unit.domain.builders import MIN, POLICY, T0, linked, report

WHERE = "commerce.links:3"


def test_a_redelivery_after_more_events_than_the_id_set_holds_decides_nothing():
    # An unqualified creator links a drug: removed, 2 points deducted (credit 10).
    first = decide(linked("drug"), {}, None, POLICY, T0, (WHERE, 7))
    assert first is not None and first.new_state.credit == 10
    st = first.new_state
    # Far more reports than max_decided_ids (2048), within the 7-day horizon.
    for n in range(POLICY.max_decided_ids + 50):
        d = decide(report(reporter=f"u{n}", eid=f"r{n}", stream=None, ts=T0 + n),
                   {}, st, POLICY, T0 + n, ("moderation.reports:3", n))  # fmt: skip
        assert d is not None
        st = d.new_state
    assert "e-link" not in st.decided  # the state keeps no ids ...
    # ... but the redelivered record (same place) is still known: nothing is decided again.
    assert decide(linked("drug"), {}, st, POLICY, T0 + 10 * MIN, (WHERE, 7)) is None
    assert decide(linked("drug"), {}, st, POLICY, T0 + 10 * MIN, (WHERE, 6)) is None


def test_the_ids_a_state_of_an_earlier_version_kept_still_count_and_then_leave_it():
    first = decide(linked("drug"), {}, None, POLICY, T0, (WHERE, 7))
    assert first is not None and first.new_state.decided == {}
    legacy = msgspec.structs.replace(first.new_state, decided={"e-link": T0})
    assert decide(linked("drug"), {}, legacy, POLICY, T0 + 1, (WHERE, 8)) is None
    later = decide(report(eid="r1", stream=None), {}, legacy, POLICY, T0 + 2, (WHERE, 9))
    assert later is not None and later.new_state.decided == {}


def test_offsets_are_not_part_of_what_a_decision_read():
    first = decide(linked("drug"), {}, None, POLICY, T0, (WHERE, 7))
    assert first is not None
    assert first.new_state.offsets == {WHERE: 7}
    assert "offsets" not in state_view(first.new_state) and "offsets" not in first.state_before


def test_an_event_decided_again_after_its_creator_moved_on_gets_exactly_the_recorded_decision():
    # A worker decided the drug link (logged) and died before writing the state; the next
    # owner read the creator's other topic first: a health stream started and ended.
    from pipeline.domain.decide import decide_as_recorded
    from tests.unit.domain.builders import ended, started

    recorded = decide(linked("drug"), {}, None, POLICY, T0, (WHERE, 7))
    assert recorded is not None and recorded.actions
    st = None
    for ev, at in ((started("s2", "health", ts=T0 + 1, eid="e-s2"), 1),
                   (ended("s2", ts=T0 + 2, eid="e-s2-end"), 2)):  # fmt: skip
        d = decide(ev, {}, st, POLICY, T0 + at, ("live.streams:3", at))
        assert d is not None
        st = d.new_state
    assert decide(linked("drug"), {}, st, POLICY, T0, (WHERE, 7)).state_before != (
        recorded.state_before
    )  # decided plainly, it would differ from the log

    again = decide_as_recorded(linked("drug"), {}, st, recorded.state_before, POLICY, T0,
                               (WHERE, 7))  # fmt: skip
    assert again is not None
    assert again.state_before == recorded.state_before
    assert [a.action_id for a in again.actions] == [a.action_id for a in recorded.actions]
    assert again.outcome == recorded.outcome and again.rule_ids == recorded.rule_ids
    # The state kept has both: the stream's effects and the link's.
    assert again.new_state.offsets == {"live.streams:3": 2, WHERE: 7}
    assert again.new_state.credit < st.credit  # the link's deduction on top of the stream's


def test_an_event_decided_again_from_the_state_it_recorded_is_decided_as_usual():
    from pipeline.domain.decide import decide_as_recorded

    recorded = decide(linked("drug"), {}, None, POLICY, T0, (WHERE, 7))
    assert recorded is not None
    again = decide_as_recorded(linked("drug"), {}, None, recorded.state_before, POLICY, T0,
                               (WHERE, 7))  # fmt: skip
    assert again == recorded
