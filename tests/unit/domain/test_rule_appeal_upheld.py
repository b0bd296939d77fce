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
