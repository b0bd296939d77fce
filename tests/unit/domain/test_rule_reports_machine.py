"""reports.machine: a machine report in D about a creator not qualified for D.
confidence >= 0.9: cut_off_stream (if live), flag_for_review; 0.6 <= confidence < 0.9:
limit_recommendation (24 h), flag_for_review; below 0.6: nothing."""

import pytest

from tests.unit.domain.builders import certs, only, pairs, report, run, state, stream

HIGH = [("cut_off_stream", "reports.machine"), ("flag_for_review", "reports.machine")]
HIGH_NOT_LIVE = [("flag_for_review", "reports.machine")]
MIDDLE = [("flag_for_review", "reports.machine"), ("limit_recommendation", "reports.machine")]
LIVE = {"s1": stream("health")}


@pytest.mark.parametrize(
    ("case", "confidence", "domain", "certifications", "streams", "expected"),
    [
        ("certain", 1.0, "health", {}, LIVE, HIGH),
        ("0.95", 0.95, "health", {}, LIVE, HIGH),
        ("band edge 0.9", 0.9, "health", {}, LIVE, HIGH),
        ("just below 0.9", 0.8999, "health", {}, LIVE, MIDDLE),
        ("band edge 0.6", 0.6, "health", {}, LIVE, MIDDLE),
        ("just below 0.6", 0.5999, "health", {}, LIVE, []),
        ("zero", 0.0, "health", {}, LIVE, []),
        ("high, stream not live", 0.95, "finance", {}, {}, HIGH_NOT_LIVE),
        ("D from the live stream", 0.95, None, {}, LIVE, HIGH),
        ("qualified for D", 0.99, "health", certs("health"), LIVE, []),
        ("no domain known", 0.99, None, {}, {}, []),
    ],
)
def test_machine_report(case, confidence, domain, certifications, streams, expected):
    ev = report("machine", confidence=confidence, domain=domain)
    d = run(ev, certifications, state(streams=streams))
    assert pairs(d) == expected, case


def test_middle_band_limits_for_24_hours_without_deduction():
    d = run(report("machine", confidence=0.7, domain="health"), {}, state(streams=LIVE))
    assert only(d, "limit_recommendation").duration_s == 24 * 3600
    assert d.new_state.credit == 12
    assert "s1" in d.new_state.streams
