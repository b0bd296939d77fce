"""Credit points: the 12-point scheme of the default policy (CONTRACT §7)."""

import pytest

from pipeline.domain.credit import deduct, effective_credit, escalated
from tests.unit.domain.builders import DAY, POLICY, T0, only, pairs, run, started, state

WEEK = 7 * DAY


@pytest.mark.parametrize(
    ("case", "credit", "severity", "after", "crossed"),
    [
        ("12 - serious = 8 crosses 8", 12, "serious", 8, [8]),
        ("10 - minor = 8 crosses 8", 10, "minor", 8, [8]),
        ("12 - minor = 10 crosses nothing", 12, "minor", 10, []),
        ("8 - minor = 6: 8 was crossed before", 8, "minor", 6, []),
        ("6 - minor = 4 crosses 4", 6, "minor", 4, [4]),
        ("9 - serious = 5 crosses 8 only", 9, "serious", 5, [8]),
        ("8 - serious = 4 crosses 4", 8, "serious", 4, [4]),
        ("5 - serious = 1 crosses 4", 5, "serious", 1, [4]),
        ("2 - minor = 0 crosses 0", 2, "minor", 0, [0]),
        ("1 - serious clamps at 0", 1, "serious", 0, [0]),
        ("6 - serious = 2 crosses 4 only", 6, "serious", 2, [4]),
        ("10 - serious = 6 crosses 8", 10, "serious", 6, [8]),
        ("9 - severe = 0 crosses 8, 4 and 0", 9, "severe", 0, [8, 4, 0]),
        ("12 - severe = 0 crosses all", 12, "severe", 0, [8, 4, 0]),
        ("0 - minor stays 0, crosses nothing", 0, "minor", 0, []),
    ],
)
def test_deduction_and_threshold_crossings(case, credit, severity, after, crossed):
    st = state(credit=credit, last_deduction_ts=T0)
    d = deduct(st, "some.rule", severity, T0, POLICY)
    assert (d.credit_after, [t.at_or_below for t in d.crossed]) == (after, crossed), case
    assert st.credit == after
    assert st.last_deduction_ts == T0
    assert st.rule_deductions == {"some.rule": T0}


@pytest.mark.parametrize(
    ("case", "credit", "expected"),
    [
        ("8: limit recommendation 7 days", 12,
         [("limit_recommendation", "credit.limit_recommendation", 7 * 86400)]),
        ("4: revoke commerce 30 days", 8,
         [("revoke_commerce", "credit.revoke_commerce", 30 * 86400)]),
        ("0: ban 180 days", 4, [("ban_account", "credit.ban_account", 180 * 86400)]),
        ("one deduction crossing three thresholds adds all three", 9,
         [("ban_account", "credit.ban_account", 180 * 86400),
          ("limit_recommendation", "credit.limit_recommendation", 7 * 86400),
          ("revoke_commerce", "credit.revoke_commerce", 30 * 86400)]),
    ],
)  # fmt: skip
def test_each_crossed_threshold_adds_its_action(case, credit, expected):
    # live.unqualified deducts 4 (serious); from 9, a repeat within 30 days deducts 12.
    repeat = {"live.unqualified": T0 - DAY} if credit == 9 else {}
    st = state(credit=credit, last_deduction_ts=T0, rule_deductions=repeat)
    d = run(started(category="health"), {}, st)
    got = sorted(
        (a.action, a.rule_id, a.duration_s) for a in d.actions if a.rule_id.startswith("credit.")
    )
    assert got == expected, case


def test_threshold_restrictions_are_recorded():
    d = run(started(category="health"), {}, state(credit=4, last_deduction_ts=T0))
    r = d.new_state.restrictions
    assert r.banned_until == T0 + 180 * DAY
    assert only(d, "deduct_credit").credit_after == 0
    assert ("revoke_commerce", "credit.revoke_commerce") not in pairs(d)


def test_revoke_commerce_threshold_covers_all_surfaces():
    d = run(started(category="health"), {}, state(credit=8, last_deduction_ts=T0))
    revoke = only(d, "revoke_commerce")
    assert revoke.surfaces == ("live", "short_video", "showcase")
    assert d.new_state.restrictions.commerce_revoked == {
        s: T0 + 30 * DAY for s in ("live", "short_video", "showcase")
    }


@pytest.mark.parametrize(
    ("case", "last_same_rule", "severity", "expected"),
    [
        ("same rule 1 day ago: one level up", T0 - DAY, "minor", "serious"),
        ("same rule 29 days ago", T0 - 29 * DAY, "serious", "severe"),
        ("same rule exactly 30 days ago: not within", T0 - 30 * DAY, "minor", "minor"),
        ("same rule 31 days ago", T0 - 31 * DAY, "minor", "minor"),
        ("severe stays severe", T0 - DAY, "severe", "severe"),
        ("never deducted", None, "serious", "serious"),
    ],
)
def test_repeat_escalation(case, last_same_rule, severity, expected):
    history = {"r.same": last_same_rule} if last_same_rule is not None else {}
    st = state(rule_deductions={**history, "r.other": T0 - DAY})
    assert escalated(st, "r.same", severity, T0, POLICY) == expected, case


def test_escalated_deduction_points():
    st = state(rule_deductions={"r": T0 - DAY})
    d = deduct(st, "r", "serious", T0, POLICY)
    assert (d.severity, d.points, d.credit_after) == ("severe", 12, 0)


@pytest.mark.parametrize(
    ("case", "credit", "since_last", "expected"),
    [
        ("no time passed", 4, 0, 4),
        ("one ms short of a week", 4, WEEK - 1, 4),
        ("one full week", 4, WEEK, 5),
        ("two weeks and a day", 4, 2 * WEEK + DAY, 6),
        ("capped at the maximum", 4, 100 * WEEK, 12),
        ("from zero", 0, 3 * WEEK, 3),
        ("an older event gets no recovery", 4, -WEEK, 4),
    ],
)
def test_recovery_from_event_time(case, credit, since_last, expected):
    st = state(credit=credit, last_deduction_ts=T0)
    assert effective_credit(st, T0 + since_last, POLICY) == expected, case


def test_never_deducted_is_the_start():
    assert effective_credit(state(credit=12), T0, POLICY) == 12


def test_a_deduction_starts_from_the_recovered_credit_and_can_cross_again():
    st = state(credit=8, last_deduction_ts=T0, rule_deductions={"a": T0})
    d = deduct(st, "b", "minor", T0 + WEEK, POLICY)  # recovered to 9, minus 2 = 7
    assert (d.credit_before, d.credit_after, [t.at_or_below for t in d.crossed]) == (9, 7, [8])
    assert st.last_deduction_ts == T0 + WEEK
