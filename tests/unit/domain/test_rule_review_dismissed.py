"""review.dismissed: no violation -> the limit_recommendation the flagged decision imposed,
if still in force, ends with lift_recommendation_limit (its `lifts` names it), unless another
decision keeps the creator limited (then the limit runs to that one's until). The same
stream is not flagged again for the same domain."""

import pytest

from tests.unit.domain.builders import (
    DAY,
    HOUR,
    T0,
    chain,
    decide_raw,
    only,
    pairs,
    report,
    review,
    started,
    updated,
)  # fmt: skip

SUSPECT = started(category="gaming", title="ask a doctor")
LIFTED = [("lift_recommendation_limit", "review.dismissed")]


def dismiss_after(events, *, ts=T0 + HOUR):
    decisions = chain(events)
    flagged = next(d for d in decisions if any(a.action == "flag_for_review" for a in d.actions))
    flag = only(flagged, "flag_for_review").action_id
    return flagged, decide_raw(review(flag, "dismiss", ts=ts), {}, decisions[-1].new_state)


@pytest.mark.parametrize(
    ("case", "events", "ts", "expected", "limited_until"),
    [
        ("limit still in force: lifted", [SUSPECT], T0 + HOUR, LIFTED, None),
        ("limit already over: nothing to lift", [SUSPECT], T0 + 25 * HOUR, [], T0 + DAY),
        ("another decision keeps the creator limited (7 d credit threshold)",
         [SUSPECT, started("s2", category="health", ts=T0 + 1, eid="e-s2")], T0 + HOUR, [],
         T0 + 1 + 7 * DAY),
        ("machine report at 0.9+ imposed no limit", [started(category="gaming"),
         report("machine", confidence=0.95, domain="health", eid="e-m")], T0 + HOUR, [], None),
    ],
)  # fmt: skip
def test_dismiss(case, events, ts, expected, limited_until):
    _, d = dismiss_after(events, ts=ts)
    assert pairs(d) == expected, case
    assert d.new_state.restrictions.recommendation_limited_until == limited_until, case
    (item,) = d.queue
    assert (item.status, item.verdict) == ("closed", "dismiss")


def test_the_lift_names_the_flagged_limit_and_cites_both_events():
    flagged, d = dismiss_after([SUSPECT])
    lift = only(d, "lift_recommendation_limit")
    assert lift.lifts == (only(flagged, "limit_recommendation").action_id,)
    assert lift.evidence == ("e-verdict", "e-start")
    assert d.outcome == "enforce" and d.new_state.credit == 12
    assert d.standing is not None and d.standing.recommendation_limited_until is None


def test_the_same_stream_is_not_flagged_again_for_the_same_domain():
    _, d = dismiss_after([SUSPECT])
    again = decide_raw(updated(title="doctor talk again", ts=T0 + 2 * HOUR), {}, d.new_state)
    machine = decide_raw(
        report("machine", confidence=0.7, domain="health", ts=T0 + 2 * HOUR, eid="e-m"),
        {}, d.new_state,
    )  # fmt: skip
    assert pairs(again) == [] and pairs(machine) == []
    other = decide_raw(report("machine", confidence=0.7, domain="finance", eid="e-f",
                              ts=T0 + 2 * HOUR), {}, d.new_state)  # fmt: skip
    assert ("flag_for_review", "reports.machine") in pairs(other)
