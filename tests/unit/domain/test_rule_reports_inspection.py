"""reports.inspection: an inspection report of unqualified professional content in D.
Not qualified: as live.unqualified (cut_off_stream of the reported live stream, if any,
deduct_credit serious, warn); qualified: warn."""

import pytest

from tests.unit.domain.builders import certs, only, pairs, report, run, state, stream

NOT_QUALIFIED = [
    ("cut_off_stream", "reports.inspection"),
    ("deduct_credit", "reports.inspection"),
    ("limit_recommendation", "credit.limit_recommendation"),
    ("warn", "reports.inspection"),
]
NOT_QUALIFIED_NOT_LIVE = [p for p in NOT_QUALIFIED if p[0] != "cut_off_stream"]
LIVE = {"s1": stream("health")}


@pytest.mark.parametrize(
    ("case", "event", "certifications", "streams", "expected"),
    [
        ("about a live stream in D", report("inspection", domain="health"), {}, LIVE,
         NOT_QUALIFIED),
        ("D taken from the live stream", report("inspection"), {}, LIVE, NOT_QUALIFIED),
        ("about a stream that is not live", report("inspection", domain="law"), {}, {},
         NOT_QUALIFIED_NOT_LIVE),
        ("about no stream", report("inspection", domain="finance", stream=None), {}, LIVE,
         NOT_QUALIFIED_NOT_LIVE),
        ("qualified: warn only", report("inspection", domain="health"), certs("health"), LIVE,
         [("warn", "reports.inspection")]),
        ("other reason", report("inspection", domain="health", reason="false_advertising"),
         {}, LIVE, []),
        ("no domain known", report("inspection", stream=None), {}, {}, []),
    ],
)  # fmt: skip
def test_inspection_report(case, event, certifications, streams, expected):
    d = run(event, certifications, state(streams=streams))
    assert pairs(d) == expected, case


def test_outcomes_and_key_fields():
    qualified = run(report("inspection", domain="health"), certs("health"), state(streams=LIVE))
    assert qualified.outcome == "review"
    d = run(report("inspection", domain="health"), {}, state(streams=LIVE))
    assert d.outcome == "enforce"
    assert (only(d, "deduct_credit").points, only(d, "deduct_credit").severity) == (4, "serious")
    assert only(d, "cut_off_stream").stream_id == "s1"
