"""Issue 12 item 5 (CONTRACT v2 §2): a redelivered event is never decided again, whatever
the creator's rate. The record's place (offset watermark) catches redeliveries; the id set
catches the same event under a new offset (a producer retry)."""

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
    assert "e-link" not in st.decided  # the id set has forgotten it ...
    # ... but the redelivered record (same place) is still known: nothing is decided again.
    assert decide(linked("drug"), {}, st, POLICY, T0 + 10 * MIN, (WHERE, 7)) is None
    assert decide(linked("drug"), {}, st, POLICY, T0 + 10 * MIN, (WHERE, 6)) is None


def test_a_producer_retry_under_a_new_offset_is_caught_by_the_id_set():
    first = decide(linked("drug"), {}, None, POLICY, T0, (WHERE, 7))
    assert first is not None
    assert decide(linked("drug"), {}, first.new_state, POLICY, T0 + 1, (WHERE, 8)) is None


def test_offsets_are_not_part_of_what_a_decision_read():
    first = decide(linked("drug"), {}, None, POLICY, T0, (WHERE, 7))
    assert first is not None
    assert first.new_state.offsets == {WHERE: 7}
    assert "offsets" not in state_view(first.new_state) and "offsets" not in first.state_before
