"""Appeals filed and upheld: `appeal_filed` names an enforcing action of the creator decided
within the appeal window and opens an item (decided allow); anything else is a dead letter
(unknown_reference). appeal.upheld closes the appeal and changes nothing else."""

import pytest

from tests.unit.domain.builders import (
    DAY,
    HOUR,
    T0,
    appeal,
    appeal_verdict,
    chain,
    decide_raw,
    only,
    started,
)  # fmt: skip

UNQUALIFIED = started("s1", category="health", ts=T0 - HOUR)


def base():
    (d,) = chain([UNQUALIFIED])
    return d


@pytest.mark.parametrize(
    ("case", "action_id", "ts", "detail"),
    [
        ("never this creator's", "0" * 64, T0, "no enforcing action"),
        ("a warning cannot be appealed", "warn", T0, "no enforcing action"),
        ("outside the 90-day window", "cut_off_stream", T0 + 91 * DAY, "appeal window of 90"),
    ],
)
def test_appeals_that_are_dead_letters(case, action_id, ts, detail):
    d = base()
    if action_id in ("warn", "cut_off_stream"):
        action_id = only(d, action_id).action_id
    filed = decide_raw(appeal(action_id, ts=ts), {}, d.new_state)
    assert filed.rejected is not None and filed.rejected.code == "unknown_reference", case
    assert detail in filed.rejected.detail


def test_filing_opens_an_item_and_changes_nothing():
    d = base()
    cut = only(d, "cut_off_stream")
    filed = decide_raw(appeal(cut.action_id, ts=T0 + 89 * DAY), {}, d.new_state)
    assert filed.rejected is None and filed.outcome == "allow" and filed.actions == []
    (item,) = filed.queue
    assert (item.kind, item.status, item.appeal_id, item.action_id, item.rule_id) == (
        "appeal",
        "open",
        "a-1",
        cut.action_id,
        "live.unqualified",
    )
    assert item.statement == "I hold the licence" and item.opened_at == T0 + 89 * DAY
    assert filed.standing is None


def test_uphold_closes_and_changes_nothing():
    d = base()
    filed = decide_raw(appeal(only(d, "deduct_credit").action_id), {}, d.new_state)
    upheld = decide_raw(appeal_verdict("uphold"), {}, filed.new_state)
    assert upheld.outcome == "allow" and upheld.actions == [] and upheld.standing is None
    (item,) = upheld.queue
    assert (item.status, item.verdict, item.reviewer_id) == ("closed", "uphold", "rev-1")
    assert upheld.new_state.credit == d.new_state.credit
    # Closed: a later overturn of the same appeal changes nothing.
    late = decide_raw(appeal_verdict("overturn", eid="e-late"), {}, upheld.new_state)
    assert late.actions == [] and late.rejected is None


def test_a_verdict_on_an_unknown_appeal_is_rejected():
    d = base()
    bad = decide_raw(appeal_verdict("uphold", appeal_id="nope"), {}, d.new_state)
    assert bad.rejected is not None and bad.rejected.code == "unknown_reference"
    assert "nope" in bad.rejected.detail


# CONTRACT §12: appeals follow facts the creator cannot set. The window runs from the
# action's `decided_at` to the appeal record's Kafka timestamp (LogAppendTime on
# moderation.reviews), not to the appeal's own `ts`; an appeal dated before the action's
# event is refused; an action whose appeal was decided cannot be appealed again.


def test_a_backdated_ts_does_not_reopen_the_window():
    d = base()
    cut = only(d, "cut_off_stream")
    # Filed 150 days after the decision, dated a day after it.
    late = decide_raw(appeal(cut.action_id, ts=T0), {}, d.new_state, record_ts=T0 + 150 * DAY)
    assert late.rejected is not None and late.rejected.code == "unknown_reference"
    assert "150 days before the appeal reached LiveGate" in late.rejected.detail
    assert late.queue == []


def test_within_the_window_by_the_record_time_it_opens():
    d = base()
    cut = only(d, "cut_off_stream")
    filed = decide_raw(appeal(cut.action_id, ts=T0), {}, d.new_state, record_ts=T0 + 89 * DAY)
    assert filed.rejected is None and [i.status for i in filed.queue] == ["open"]


def test_an_appeal_dated_before_the_action_it_names_is_refused():
    d = base()
    cut = only(d, "cut_off_stream")
    early = decide_raw(appeal(cut.action_id, ts=T0 - 2 * HOUR), {}, d.new_state, record_ts=T0)
    assert early.rejected is not None and early.rejected.code == "unknown_reference"
    assert "outside the appeal window" in early.rejected.detail and early.queue == []


@pytest.mark.parametrize("verdict", ["uphold", "overturn"])
def test_an_action_whose_appeal_was_decided_cannot_be_appealed_again(verdict):
    d = base()
    deduct = only(d, "deduct_credit")
    filed = decide_raw(appeal(deduct.action_id), {}, d.new_state)
    decided = decide_raw(appeal_verdict(verdict), {}, filed.new_state)
    assert decided.rejected is None
    again = decide_raw(
        appeal(deduct.action_id, appeal_id="a-2", eid="e-appeal-2", ts=T0 + 3 * HOUR),
        {}, decided.new_state,
    )  # fmt: skip
    assert again.rejected is not None and again.rejected.code == "already_decided"
    assert "'a-1'" in again.rejected.detail
    assert ("upheld" if verdict == "uphold" else "overturned") in again.rejected.detail
    assert again.queue == [] and again.actions == []


def test_after_an_overturn_no_action_of_that_decision_can_be_appealed_again():
    d = base()
    filed = decide_raw(appeal(only(d, "deduct_credit").action_id), {}, d.new_state)
    decided = decide_raw(appeal_verdict("overturn"), {}, filed.new_state)
    other = only(d, "cut_off_stream").action_id
    again = decide_raw(
        appeal(other, appeal_id="a-2", eid="e-appeal-2", ts=T0 + 3 * HOUR), {}, decided.new_state
    )
    assert again.rejected is not None and again.rejected.code == "already_decided"
