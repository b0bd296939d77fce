"""certification.lapsed_live: a creator's qualification for D is revoked, or expires, while
one of their streams in D is live -> cut_off_stream, warn (no deduction)."""

import pytest

from tests.unit.domain.builders import (
    DAY,
    T0,
    cert,
    certs,
    expiry,
    granted,
    pairs,
    revoked,
    run,
    state,
    stream,
)  # fmt: skip

CUT = [("cut_off_stream", "certification.lapsed_live"), ("warn", "certification.lapsed_live")]
REVOKED = certs(health=cert(status="revoked"))
ENDS_NOW = certs(health=cert(valid_until=T0))


@pytest.mark.parametrize(
    ("case", "event", "certifications", "streams", "expected"),
    [
        ("revoked while live in health", revoked("health"), REVOKED,
         {"s1": stream("health")}, CUT),
        ("revoked, no stream live", revoked("health"), REVOKED, {}, []),
        ("revoked, live stream in another domain", revoked("health"), REVOKED,
         {"s1": stream("finance")}, []),
        ("revoked, live gaming stream merely suspected", revoked("health"), REVOKED,
         {"s1": stream("gaming", "doctor talk")}, []),
        ("revocation of finance while live in health", revoked("finance"),
         certs("health", finance=cert(status="revoked")), {"s1": stream("health")}, []),
        ("re-granted meanwhile", revoked("health"), certs("health"),
         {"s1": stream("health")}, []),
        ("expiry due at valid_until", expiry("health"), ENDS_NOW,
         {"s1": stream("health")}, CUT),
        ("expiry due one ms early", expiry("health", ts=T0 - 1), ENDS_NOW,
         {"s1": stream("health")}, []),
        ("a grant changes nothing live", granted("health"), certs("health"),
         {"s1": stream("health")}, []),
    ],
)  # fmt: skip
def test_lapse(case, event, certifications, streams, expected):
    d = run(event, certifications, state(streams=streams))
    assert pairs(d) == expected, case


def test_every_live_stream_in_d_is_cut_off_once_and_nothing_is_deducted():
    live = {"a": stream("health"), "b": stream("medical"), "c": stream("finance")}
    d = run(revoked("health"), REVOKED, state(streams=live))
    assert sorted((a.action, a.stream_id) for a in d.actions) == [
        ("cut_off_stream", "a"), ("cut_off_stream", "b"), ("warn", "a"), ("warn", "b"),
    ]  # fmt: skip
    assert len({a.action_id for a in d.actions}) == 4
    assert set(d.new_state.streams) == {"c"}
    assert d.new_state.credit == 12


def test_a_renewal_asks_for_a_new_expiry_check():
    renewed = certs(health=cert(valid_until=T0 + 90 * DAY))
    d = run(expiry("health"), renewed, state(streams={"s1": stream("health")}))
    assert pairs(d) == []
    assert [(e.stream_id, e.at_ms) for e in d.expiries] == [("s1", T0 + 90 * DAY)]
