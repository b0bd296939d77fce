"""`livegate explain`'s text: credit, each restriction in force with the decision that
imposed it (rule, reason, evidence, time), newest first; and the tail line of a lift."""

import msgspec

from pipeline.cli.explain import render
from pipeline.cli.tail import action_line
from pipeline.domain.view import creator_view
from tests.unit.domain.builders import (
    CREATOR,
    POLICY,
    T0,
    chain,
    decide_raw,
    only,
    review,
    started,
)  # fmt: skip


def test_explain_lists_what_is_in_force_newest_first():
    decisions = chain([
        started("s1", category="gaming", title="ask a doctor", eid="e-sus"),
        started("s2", category="health", ts=T0 + 1, eid="e-unq"),
    ])  # fmt: skip
    view = creator_view(CREATOR, decisions[-1].new_state, {}, POLICY, T0 + 2)
    assert [i["rule_id"] for i in view["in_force"]] == [
        "credit.limit_recommendation",
        "live.suspected",
    ]
    assert view["in_force"][0]["evidence"] == ["e-unq"]
    assert view["deductions"][0]["points"] == 4
    text = render(view)
    lines = text.splitlines()
    assert lines[0].startswith(f"{CREATOR}: credit 8 of 12")  # no platform named yet
    assert text.index("[credit.limit_recommendation]") < text.index("[live.suspected]")
    assert "evidence e-unq" in text and "-4 points" in text and "open since" in text


def test_tail_shows_a_lift_readably():
    (d,) = chain([started("s1", category="gaming", title="ask a doctor")])
    lift = decide_raw(review(only(d, "flag_for_review").action_id, "dismiss"), {}, d.new_state)
    line = action_line(msgspec.to_builtins(only(lift, "lift_recommendation_limit")))
    assert "LIFT RECOMMENDATION LIMIT" in line and "ending " in line
    assert "[review.dismissed]" in line


def test_explain_lists_the_creators_exemptions_and_whether_in_force():
    from pipeline.domain.events import ExemptionGranted

    granted = ExemptionGranted(
        event_id="g1", ts=T0, creator_id=CREATOR, exemption_id=f"{CREATOR}:x1", until=T0 + 10,
        rule_id="live.suspected", reason="appeal under review", granted_by="lead",
    )  # fmt: skip
    (d,) = chain([granted])
    during = render(creator_view(CREATOR, d.new_state, {}, POLICY, T0 + 5))
    assert f"exemption {CREATOR}:x1 [live.suspected] shadows until" in during
    assert "(in force), granted by lead" in during and "appeal under review" in during
    assert "(ended)" in render(creator_view(CREATOR, d.new_state, {}, POLICY, T0 + 10))


def test_tail_line_of_a_shadowed_rules_record():
    from pipeline.cli.tail import shadow_line

    line = shadow_line({
        "mode": "shadow", "decided_at": T0, "outcome": "allow", "creator_id": "c-9",
        "event_type": "stream_started", "event_id": "e-1",
        "shadow": [{"rule_id": "live.unqualified",
                    "actions": [{"action": "cut_off_stream"}, {"action": "warn"}]}],
    })  # fmt: skip
    assert "SHADOW RULES" in line and "would=live.unqualified:cut_off_stream,warn" in line
    assert "(decided allow)" in line
