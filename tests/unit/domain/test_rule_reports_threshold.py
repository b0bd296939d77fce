"""reports.threshold: reports from >= 5 distinct user reporters about one stream, all within
the 10 minutes up to the latest report (by ts), for a professional-content reason. D is the
stream's domain, else its suspected domain, else the reports' domain; fires once per
(stream, D). Not qualified: cut_off_stream, deduct_credit (serious); qualified: flag_for_review."""

import pytest

from tests.unit.domain.builders import (
    MIN,
    SEC,
    T0,
    certs,
    only,
    pairs,
    report,
    run,
    state,
    stream,
)  # fmt: skip

CUT = [
    ("cut_off_stream", "reports.threshold"),
    ("deduct_credit", "reports.threshold"),
    ("limit_recommendation", "credit.limit_recommendation"),  # 12 - 4 = 8
]
DEDUCT_ONLY = [
    ("deduct_credit", "reports.threshold"),
    ("limit_recommendation", "credit.limit_recommendation"),
]
REVIEW = [("flag_for_review", "reports.threshold")]


def reports(times, reporters=None, **kw):
    reporters = reporters or [f"u{i}" for i in range(len(times))]
    return [
        report(reporter=r, ts=T0 + t, eid=f"r{i}", **kw)
        for i, (t, r) in enumerate(zip(times, reporters, strict=True))
    ]


def feed(events, certifications=None, st=None):
    """Decide the reports in order; return the (action, rule) pairs of each decision."""
    st = st if st is not None else state(streams={"s1": stream("health")})
    out = []
    for ev in events:
        d = run(ev, certifications or {}, st)
        st = d.new_state
        out.append(pairs(d))
    return out, st


FIVE_IN_TIME = [0, 2 * MIN, 4 * MIN, 6 * MIN, 9 * MIN + 59 * SEC]


@pytest.mark.parametrize(
    ("case", "events", "certifications", "last_expected"),
    [
        ("5th distinct reporter at 9:59", reports(FIVE_IN_TIME), {}, CUT),
        ("5th distinct reporter at exactly 10:00", reports([0, 1, 2, 3, 10 * MIN]), {}, CUT),
        ("5th at 10:01 starts a new window", reports([0, 1, 2, 3, 10 * MIN + SEC]), {}, []),
        ("5 reports from one reporter", reports(FIVE_IN_TIME, ["u1"] * 5), {}, []),
        ("4 distinct reporters", reports(FIVE_IN_TIME[:4]), {}, []),
        ("qualified: flag for review", reports(FIVE_IN_TIME), certs("health"), REVIEW),
        ("qualified elsewhere only", reports(FIVE_IN_TIME), certs("law"), CUT),
        ("not professional content", reports(FIVE_IN_TIME, reason="false_advertising"), {}, []),
        ("late reports, older ts, still in the window",
         reports([9 * MIN, 8 * MIN, 7 * MIN, 6 * MIN, 0]), {}, CUT),
    ],
)  # fmt: skip
def test_the_fifth_report(case, events, certifications, last_expected):
    results, _ = feed(events, certifications)
    assert results[:-1] == [[]] * (len(events) - 1), case
    assert results[-1] == last_expected, case


def test_fires_once_per_stream_and_domain():
    results, st = feed(reports([0, 1, 2, 3, 4, 5, 6]))
    assert results == [[], [], [], [], CUT, [], []]
    assert st.reports["s1"].fired == ("health",)


def test_a_reported_stream_that_has_ended_deducts_but_cuts_nothing():
    results, _ = feed(reports(FIVE_IN_TIME, domain="finance"), st=state())
    assert results[-1] == DEDUCT_ONLY


def test_no_domain_anywhere_means_no_threshold():
    results, _ = feed(reports(FIVE_IN_TIME), st=state(streams={"s1": stream("gaming")}))
    assert results[-1] == []


@pytest.mark.parametrize(
    ("case", "live", "report_domain", "expected_in_reason"),
    [
        ("the stream's domain wins", stream("finance"), "law", "finance"),
        ("then its suspected domain", stream("gaming", "ask a doctor"), "law", "health"),
        ("then the reports' domain", stream("gaming", "speedrun"), "law", "law"),
    ],
)
def test_which_domain(case, live, report_domain, expected_in_reason):
    evs = reports(FIVE_IN_TIME, domain=report_domain)
    st = state(streams={"s1": live})
    for ev in evs:
        d = run(ev, {}, st)
        st = d.new_state
    assert f" {expected_in_reason} " in only(d, "deduct_credit").reason, case


def test_only_user_reports_count():
    evs = [
        report("inspection", reason="false_advertising", eid=f"i{i}", ts=T0 + i) for i in range(5)
    ]
    results, _ = feed(evs)
    assert results == [[]] * 5


def test_key_fields():
    _, st = feed(reports(FIVE_IN_TIME))
    evs = reports(FIVE_IN_TIME)
    st = state(streams={"s1": stream("health")})
    for ev in evs:
        d = run(ev, {}, st)
        st = d.new_state
    assert only(d, "cut_off_stream").stream_id == "s1"
    assert (only(d, "deduct_credit").points, only(d, "deduct_credit").severity) == (4, "serious")
    assert "s1" not in st.streams
    assert st.reports["s1"].fired == ("health",)


def test_a_cut_off_stream_is_not_judged_again_under_the_reports_domain():
    results, _ = feed(reports([0, 1, 2, 3, 4, 5, 6], domain="finance"))
    assert results == [[], [], [], [], CUT, [], []]


def test_the_evidence_is_every_report_that_counted_trigger_first():
    st = state(streams={"s1": stream("health")})
    decision = None
    for ev in reports(FIVE_IN_TIME):
        decision = run(ev, {}, st)
        st = decision.new_state
    assert decision is not None
    cut = next(a for a in decision.actions if a.action == "cut_off_stream")
    assert cut.evidence == ("r4", "r0", "r1", "r2", "r3")
