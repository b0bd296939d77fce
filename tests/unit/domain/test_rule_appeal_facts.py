"""Appeals follow facts the creator cannot set (CONTRACT §12): the window runs from the
action's `decided_at` to the appeal record's Kafka timestamp (LogAppendTime on
moderation.reviews), not to the appeal's own `ts`; an appeal dated before the action's
event is refused; an action whose appeal was decided cannot be appealed again."""

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
