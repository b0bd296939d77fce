"""live.unqualified: a stream starts, or is updated, in domain D and the creator is not
qualified for D at ts -> cut_off_stream, deduct_credit (serious), warn."""

import pytest

from tests.unit.domain.builders import (
    DAY,
    T0,
    cert,
    certs,
    ended,
    only,
    pairs,
    run,
    run_all,
    started,
    state,
    stream,
    updated,
)  # fmt: skip

FIRES = [
    ("cut_off_stream", "live.unqualified"),
    ("deduct_credit", "live.unqualified"),
    ("limit_recommendation", "credit.limit_recommendation"),  # 12 - 4 = 8 crosses 8
    ("warn", "live.unqualified"),
]


@pytest.mark.parametrize(
    ("case", "event", "certifications", "expected"),
    [
        ("health, no certification", started(category="health"), {}, FIRES),
        ("medical maps to health", started(category="medical"), {}, FIRES),
        ("finance, no certification", started(category="finance"), {}, FIRES),
        ("investment maps to finance", started(category="investment"), {}, FIRES),
        ("insurance maps to finance", started(category="insurance"), {}, FIRES),
        ("law, no certification", started(category="law"), {}, FIRES),
        ("legal maps to law", started(category="legal"), {}, FIRES),
        ("education, no certification", started(category="education"), {}, FIRES),
        ("qualified for another domain", started(category="law"), certs("health"), FIRES),
        ("qualified for health", started(category="health"), certs("health"), []),
        ("qualified for law", started(category="legal"), certs("law"), []),
        ("revoked certification", started(category="health"),
         certs(health=cert(status="revoked")), FIRES),
        ("expired exactly at ts", started(category="health"),
         certs(health=cert(valid_until=T0)), FIRES),
        ("expires one ms after ts", started(category="health"),
         certs(health=cert(valid_until=T0 + 1)), []),
        ("not yet valid at ts", started(category="health"),
         certs(health=cert(valid_from=T0 + 1)), FIRES),
        ("gaming is no domain", started(category="gaming"), {}, []),
        ("unknown category is no domain", started(category="knitting"), {}, []),
    ],
)  # fmt: skip
def test_stream_started(case, event, certifications, expected):
    d = run(event, certifications)
    assert pairs(d) == expected, case


def test_key_fields_of_the_cut_off():
    d = run(started("s9", category="health"))
    cut = only(d, "cut_off_stream")
    assert (cut.stream_id, cut.severity, cut.evidence, cut.event_ts) == (
        "s9",
        "serious",
        ("e-start",),
        T0,
    )
    deduct = only(d, "deduct_credit")
    assert (deduct.points, deduct.credit_after, deduct.severity) == (4, 8, "serious")
    assert only(d, "limit_recommendation").duration_s == 7 * 86400
    assert "health" in cut.reason and cut.reason.endswith(".")
    assert d.outcome == "enforce"
    assert "s9" not in d.new_state.streams  # a cut-off stream counts as ended


@pytest.mark.parametrize(
    ("case", "live_category", "update", "expected"),
    [
        ("moves from gaming into health", "gaming", updated(category="health"), FIRES),
        ("moves into finance", "lifestyle", updated(category="investment"), FIRES),
        ("stays in gaming", "gaming", updated(category="music"), []),
        ("title change of a gaming stream, no keywords", "gaming", updated(title="speedrun"), []),
    ],
)
def test_stream_updated_rejudges_a_stream_moving_into_a_domain(
    case, live_category, update, expected
):
    d = run(update, {}, state(streams={"s1": stream(live_category)}))
    assert pairs(d) == expected, case


def test_each_stream_and_domain_is_judged_once():
    # Qualified at start; a later update in the same domain is not judged again.
    st = run(started(category="health"), certs("health")).new_state
    d = run(updated(category="medical", ts=T0 + 1), {}, st)
    assert pairs(d) == []


def test_an_update_opens_an_unknown_stream_and_judges_it():
    d = run(updated("s7", category="law"))
    assert pairs(d) == FIRES
    assert only(d, "cut_off_stream").stream_id == "s7"


def test_a_late_update_does_not_reopen_a_cut_off_stream():
    first, late = run_all([started(category="health"), updated(category="health", ts=T0 + 5)])
    assert pairs(first) == FIRES
    assert pairs(late) == []
    assert late.new_state.credit == 8  # not deducted twice


def test_a_restart_after_the_end_is_judged_again():
    decisions = run_all(
        [
            started(category="health"),
            ended(ts=T0 + 10),
            started(category="health", ts=T0 + DAY, eid="e2"),
        ],
        certs("health"),
    )
    assert [pairs(d) for d in decisions] == [[], [], []]


def test_a_qualified_stream_asks_for_an_expiry_check_at_valid_until():
    d = run(started(category="health"), certs(health=cert(valid_until=T0 + 3 * DAY)))
    assert [(e.domain, e.stream_id, e.at_ms) for e in d.expiries] == [
        ("health", "s1", T0 + 3 * DAY)
    ]
