"""The medical-personnel revocation lasts while the creator is qualified for health
(`while_qualified`); when that qualification ends (revoked or expired), a restore_commerce
by commerce.medical_personnel follows, naming the revocations it ends, on every surface no
other decision keeps revoked. Every timed action carries `until` = event_ts + duration."""

import pytest

from tests.unit.domain.builders import (
    DAY,
    HOUR,
    T0,
    cert,
    certs,
    chain,
    decide_raw,
    expiry,
    granted,
    linked,
    only,
    pairs,
    revoked,
    started,
)  # fmt: skip

RESTORE = [("restore_commerce", "commerce.medical_personnel")]
QUALIFIED = certs("health")
LAPSED = certs(health=cert(status="revoked"))
EXPIRED = certs(health=cert(valid_until=T0 + HOUR))


def physician(*more):
    return chain([linked("general", ts=T0 - HOUR), *more], QUALIFIED)


@pytest.mark.parametrize(
    ("case", "lapse", "after", "expected"),
    [
        ("qualification revoked", revoked(ts=T0), LAPSED, RESTORE),
        ("qualification expired (the scheduled check)", expiry(stream=None, ts=T0 + HOUR),
         EXPIRED, RESTORE),
        ("renewed before the check: nothing ends", expiry(stream=None, ts=T0 + HOUR),
         QUALIFIED, []),
        ("a grant changes nothing", granted(ts=T0), QUALIFIED, []),
    ],
)  # fmt: skip
def test_lapse(case, lapse, after, expected):
    (d,) = physician()
    out = decide_raw(lapse, after, d.new_state)
    assert pairs(out) == expected, case


def test_the_restore_names_every_revocation_it_ends():
    first, second = physician(linked("general", link="l2", ts=T0 - HOUR + 1, eid="e-l2"))
    out = decide_raw(revoked(ts=T0), LAPSED, second.new_state)
    restore = only(out, "restore_commerce")
    assert restore.lifts == (
        only(first, "revoke_commerce").action_id,
        only(second, "revoke_commerce").action_id,
    )
    assert restore.surfaces == ("live", "short_video", "showcase")
    assert out.new_state.restrictions.commerce_revoked_while_qualified == {}
    assert out.standing is not None and out.standing.commerce_revoked == {}
    # Granted again later: the revocation that ended does not come back.
    again = decide_raw(linked("course", link="l3", ts=T0 + DAY, eid="e-l3"), {}, out.new_state)
    assert pairs(again) == []


def test_a_timed_revocation_of_a_surface_keeps_it_revoked():
    # Credit falls to 4 or below: a 30-day revocation on every surface by credit threshold.
    events = [linked("general", ts=T0 - HOUR + i, link=f"l{i}", eid=f"e{i}") for i in range(5)]
    decisions = chain(events, QUALIFIED)
    assert any(("revoke_commerce", "credit.revoke_commerce") in pairs(d) for d in decisions)
    out = decide_raw(revoked(ts=T0), LAPSED, decisions[-1].new_state)
    assert pairs(out) == []  # every surface stays revoked by the timed revocation
    assert out.new_state.restrictions.commerce_revoked_while_qualified == {}


def test_while_qualified_revocation_is_sent_with_its_domain_and_watched():
    (d,) = physician()
    revoke = only(d, "revoke_commerce")
    assert (revoke.duration_s, revoke.until, revoke.while_qualified) == (None, None, "health")
    assert [(e.domain, e.stream_id) for e in d.expiries] == [("health", None)]
    assert d.standing is not None
    assert d.standing.commerce_revoked == dict.fromkeys(
        ("live", "short_video", "showcase"), "while_qualified"
    )


@pytest.mark.parametrize(
    ("case", "events", "action", "duration_ms"),
    [
        ("live.suspected limit", [started(category="gaming", title="ask a doctor")],
         "limit_recommendation", 24 * HOUR),
        ("credit threshold limit", [started(category="health")], "limit_recommendation",
         7 * DAY),
        ("credit threshold revocation and ban",
         [started(f"s{i}", category="health", ts=T0 + i, eid=f"e{i}") for i in range(2)],
         "ban_account", 180 * DAY),
    ],
)  # fmt: skip
def test_every_timed_action_carries_its_absolute_end(case, events, action, duration_ms):
    last = chain(events)[-1]
    a = only(last, action)
    assert a.until == a.event_ts + duration_ms, case
    assert a.duration_s == duration_ms // 1000
