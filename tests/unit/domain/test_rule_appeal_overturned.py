"""appeal.overturned: the decision that emitted the appealed action is reversed at once:
its deduction -> restore_credit (the points it took, capped at the maximum; it no longer
counts for repeat escalation); its ban, commerce revocation and recommendation limit ->
lift_ban, restore_commerce, lift_recommendation_limit, each only while in force and only if
no other decision keeps it; cut-offs, removals and warnings lift nothing."""

import pytest

from pipeline.domain.credit import escalated
from tests.unit.domain.builders import (
    DAY,
    HOUR,
    POLICY,
    T0,
    appeal,
    appeal_verdict,
    certs,
    chain,
    decide_raw,
    linked,
    only,
    pairs,
    started,
)  # fmt: skip

# A: 12 -> 8 (and a 7-day limit). B, 20 days later and within the repeat window: escalated
# to severe, 10 (8 + 2 recovered) -> 0, crossing every threshold: limit, commerce, ban.
A = started("s1", category="health", ts=T0 - 40 * DAY, eid="e-a")
B = started("s2", category="health", ts=T0 - 20 * DAY, eid="e-b")


def overturn(events, action, *, certifications=None, verdict="overturn"):
    """Decide the events, appeal `action` (picked from the last decision) and decide it."""
    decisions = chain(events, certifications)
    appealed = only(decisions[-1], action)
    st = decisions[-1].new_state
    filed = decide_raw(appeal(appealed.action_id, ts=T0), certifications, st)
    done = decide_raw(appeal_verdict(verdict, ts=T0 + HOUR), certifications, filed.new_state)
    return decisions, filed, done


@pytest.mark.parametrize(
    ("case", "events", "appealed", "certifications", "expected"),
    [
        ("the ban decision: credit back, ban lifted, commerce restored", [A, B],
         "ban_account", None,
         [("lift_ban", "appeal.overturned"), ("restore_commerce", "appeal.overturned"),
          ("restore_credit", "appeal.overturned")]),
        ("appealing any action of it reverses the whole decision", [A, B],
         "cut_off_stream", None,
         [("lift_ban", "appeal.overturned"), ("restore_commerce", "appeal.overturned"),
          ("restore_credit", "appeal.overturned")]),
        ("a cut-off with a deduction whose limit is over: credit only",
         [started("s1", category="health", ts=T0 - 10 * DAY)], "cut_off_stream", None,
         [("restore_credit", "appeal.overturned")]),
        ("a cut-off still limiting: the limit is lifted too",
         [started("s1", category="health", ts=T0 - HOUR)], "cut_off_stream", None,
         [("lift_recommendation_limit", "appeal.overturned"),
          ("restore_credit", "appeal.overturned")]),
        ("medical personnel revocation, still qualified: commerce restored",
         [linked("general", ts=T0 - HOUR)], "revoke_commerce", certs("health"),
         [("restore_commerce", "appeal.overturned")]),
        ("a removed link alone: nothing to lift",
         [linked("drug", ts=T0 - 9 * DAY)], "remove_product_link", None,
         [("restore_credit", "appeal.overturned")]),
    ],
)  # fmt: skip
def test_overturn(case, events, appealed, certifications, expected):
    _, filed, done = overturn(events, appealed, certifications=certifications)
    assert filed.outcome == "allow" and filed.actions == []
    assert pairs(done) == expected, case
    assert done.outcome == "enforce"
    (item,) = done.queue
    assert (item.kind, item.status, item.verdict) == ("appeal", "closed", "overturn")


def test_the_ban_case_exactly():
    decisions, _, done = overturn([A, B], "ban_account")
    b = decisions[-1]
    assert only(b, "deduct_credit").credit_after == 0
    restore = only(done, "restore_credit")
    # 10 taken; 2 recovered since: 2 -> 12, what it would be had B taken nothing.
    assert (restore.points, restore.credit_after) == (10, 12)
    assert restore.lifts == (only(b, "deduct_credit").action_id,)
    assert only(done, "lift_ban").lifts == (only(b, "ban_account").action_id,)
    commerce = only(done, "restore_commerce")
    assert commerce.lifts == (only(b, "revoke_commerce").action_id,)
    assert commerce.surfaces == ("live", "short_video", "showcase")
    assert set(restore.evidence) == {"e-appeal-verdict", "e-b"}
    st = done.new_state
    assert st.restrictions.banned_until is None and st.restrictions.commerce_revoked == {}
    assert done.standing is not None
    assert (done.standing.credit, done.standing.banned_until) == (12, None)
    # The overturned deduction no longer escalates: A is 40 days old, outside the window.
    later = decide_raw(started("s3", category="health", ts=T0 + 2 * HOUR, eid="e-c"), {}, st)
    assert (only(later, "deduct_credit").severity, only(later, "deduct_credit").points) == (
        "serious",
        4,
    )


def test_without_the_overturn_the_later_decision_would_be_escalated():
    decisions, _, done = overturn([A, B], "ban_account")
    rule = "live.unqualified"
    assert escalated(decisions[-1].new_state, rule, "serious", T0 + 2 * HOUR, POLICY) == "severe"
    assert escalated(done.new_state, rule, "serious", T0 + 2 * HOUR, POLICY) == "serious"
    assert done.new_state.rule_deductions[rule] == A.ts  # A still counts, B does not


def test_a_restriction_another_decision_imposes_stays():
    # The suspected stream's 24 h limit, then an unqualified stream's 7-day credit limit.
    events = [
        started("s1", category="gaming", title="ask a doctor", ts=T0 - HOUR, eid="e-sus"),
        started("s2", category="health", ts=T0 - HOUR + 1, eid="e-unq"),
    ]
    _, _, done = overturn(events, "cut_off_stream")
    # The 7-day limit is gone, but the suspected stream's keeps the creator limited.
    assert pairs(done) == [("restore_credit", "appeal.overturned")]
    assert done.new_state.restrictions.recommendation_limited_until == T0 - HOUR + 24 * HOUR
    assert done.standing.recommendation_limited_until == T0 - HOUR + 24 * HOUR


def test_a_deduction_floored_at_zero_gives_back_only_what_it_took():
    # 12 -> 8, then a severe (12-point) deduction that can take only the 8 left.
    events = [started(f"s{i}", category="health", ts=T0 - HOUR + i, eid=f"e{i}")
              for i in range(2)]  # fmt: skip
    decisions, _, done = overturn(events, "deduct_credit")
    assert only(decisions[-1], "deduct_credit").credit_after == 0
    before = only(decisions[-2], "deduct_credit").credit_after
    assert only(done, "restore_credit").points == before  # took `before`, not 12
    assert only(done, "restore_credit").credit_after == before


def test_a_second_verdict_changes_nothing():
    _, _, done = overturn([A, B], "ban_account")
    again = decide_raw(appeal_verdict("overturn", ts=T0 + 2 * HOUR, eid="e-again"), {},
                       done.new_state)  # fmt: skip
    assert again.rejected is None and again.actions == [] and again.outcome == "allow"
    assert again.new_state.credit == done.new_state.credit
