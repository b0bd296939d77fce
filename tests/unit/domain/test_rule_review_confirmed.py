"""review.confirmed: a reviewer confirms a flagged case -> cut_off_stream if the stream is
still live, deduct_credit (serious, with repeat escalation and thresholds), warn; the item
closes, and a later verdict on it changes nothing."""

import pytest

from tests.unit.domain.builders import (
    HOUR,
    T0,
    chain,
    ended,
    only,
    pairs,
    report,
    review,
    started,
)  # fmt: skip

SUSPECT = started(category="gaming", title="ask a doctor")
CONFIRMED = [
    ("cut_off_stream", "review.confirmed"),
    ("deduct_credit", "review.confirmed"),
    ("limit_recommendation", "credit.limit_recommendation"),
    ("warn", "review.confirmed"),
]
NOT_LIVE = [p for p in CONFIRMED if p[0] != "cut_off_stream"]


def flag_id(d):
    return only(d, "flag_for_review").action_id


@pytest.mark.parametrize(
    ("case", "before", "expected"),
    [
        ("suspected stream still live: cut off", [SUSPECT], CONFIRMED),
        ("the stream ended meanwhile: no cut-off", [SUSPECT, ended(ts=T0 + 1)], NOT_LIVE),
        ("machine report flag (0.6-0.9)",
         [started(category="gaming"), report("machine", confidence=0.7, domain="health",
                                              eid="e-m")], CONFIRMED),
    ],
)  # fmt: skip
def test_confirm(case, before, expected):
    decisions = chain(before)
    flagged = next(d for d in decisions if any(a.action == "flag_for_review" for a in d.actions))
    (verdict,) = chain_from(decisions[-1], [review(flag_id(flagged), "confirm")])
    assert pairs(verdict) == expected, case
    assert verdict.outcome == "enforce"
    deduct = only(verdict, "deduct_credit")
    assert (deduct.points, deduct.credit_after, deduct.severity) == (4, 8, "serious")
    assert set(deduct.evidence) == {
        "e-verdict",
        flagged.new_state.reviews[flag_id(flagged)].trigger,
    }
    (item,) = verdict.queue
    assert (item.status, item.verdict, item.reviewer_id, item.kind) == (
        "closed",
        "confirm",
        "rev-1",
        "review",
    )
    assert verdict.standing is not None and verdict.standing.credit == 8
    assert verdict.new_state.reviews == {}


def chain_from(decision, events):
    from tests.unit.domain.builders import decide_raw

    st, out = decision.new_state, []
    for ev in events:
        d = decide_raw(ev, {}, st)
        st = d.new_state if d.rejected is None else st
        out.append(d)
    return out


def test_flag_opens_a_review_item_with_the_restriction_it_imposed():
    (d,) = chain([SUSPECT])
    (item,) = d.queue
    assert (item.kind, item.status, item.rule_id, item.domain, item.stream_id) == (
        "review",
        "open",
        "live.suspected",
        "health",
        "s1",
    )
    assert item.review_id == flag_id(d) and item.opened_at == T0
    kept = d.new_state.reviews[item.review_id]
    assert kept.limit_id == only(d, "limit_recommendation").action_id
    assert kept.limit_until == T0 + 24 * HOUR


def test_a_second_verdict_on_a_closed_item_changes_nothing():
    (d,) = chain([SUSPECT])
    first, second = chain_from(
        d, [review(flag_id(d), "confirm"), review(flag_id(d), "dismiss", eid="e-again")]
    )
    assert second.rejected is None and second.outcome == "allow" and second.actions == []
    assert second.queue == [] and second.standing is None
    assert second.new_state.credit == first.new_state.credit


def test_a_verdict_on_an_unknown_review_is_rejected_as_unknown_reference():
    (d,) = chain([SUSPECT])
    (bad,) = chain_from(d, [review("f" * 64, "confirm")])
    assert bad.rejected is not None and bad.rejected.code == "unknown_reference"
    assert "no review item" in bad.rejected.detail
    assert bad.new_state is d.new_state  # nothing changed, nothing remembered


def test_a_repeat_confirmation_escalates_like_any_rule():
    decisions = chain([
        started("s1", category="gaming", title="ask a doctor"),
        started("s2", category="gaming", title="doctor talk", ts=T0 + 1, eid="e-s2"),
    ])  # fmt: skip
    ids = [flag_id(d) for d in decisions]
    one, two = chain_from(
        decisions[-1], [review(ids[0], "confirm"), review(ids[1], "confirm", eid="e-v2")]
    )
    assert only(one, "deduct_credit").points == 4
    assert only(two, "deduct_credit").severity == "severe"
    assert ("ban_account", "credit.ban_account") in pairs(two)


def test_past_the_cap_the_oldest_open_item_is_closed_without_a_verdict():
    from tests.unit.domain.builders import POLICY

    cap = POLICY.max_open_reviews
    # Each stream ends before the next starts: the live-stream cap (state.live_streams) is
    # not what this test is about.
    events = [
        e
        for i in range(cap + 1)
        for e in (
            started(f"s{i}", category="gaming", title="ask a doctor", ts=T0 + 2 * i, eid=f"e{i}"),
            ended(f"s{i}", ts=T0 + 2 * i + 1, eid=f"end{i}"),
        )
    ]
    decisions = chain(events)[::2]  # the starts' decisions
    last = decisions[-1]
    assert len(last.new_state.reviews) == cap
    closed, opened = last.queue
    assert (closed.status, closed.verdict, closed.reviewer_id) == ("closed", None, None)
    assert closed.review_id == flag_id(decisions[0]) and "more open items" in closed.note
    assert opened.status == "open"
    (late,) = chain_from(last, [review(flag_id(decisions[0]), "dismiss")])
    assert late.rejected is None and late.actions == []
