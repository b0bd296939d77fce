"""The certification table (CONTRACT §3): qualification at t, and the order of changes."""

import itertools

import pytest

from pipeline.domain.certifications import (
    Certification,
    apply_change,
    change_order,
    decode_certification,
    encode_certification,
    is_qualified,
    qualified_until,
)
from pipeline.domain.errors import LiveGateError
from tests.unit.domain.builders import DAY, T0, cert, granted, revoked

FROM, UNTIL = T0 - DAY, T0 + DAY


@pytest.mark.parametrize(
    ("case", "snapshot", "t", "expected"),
    [
        ("at valid_from", {"health": cert(FROM, UNTIL)}, FROM, True),
        ("one ms before valid_from", {"health": cert(FROM, UNTIL)}, FROM - 1, False),
        ("at valid_until - 1", {"health": cert(FROM, UNTIL)}, UNTIL - 1, True),
        ("at valid_until", {"health": cert(FROM, UNTIL)}, UNTIL, False),
        ("revoked", {"health": cert(FROM, UNTIL, status="revoked")}, T0, False),
        ("no field for the domain", {"law": cert(FROM, UNTIL)}, T0, False),
        ("empty snapshot", {}, T0, False),
        ("revoked with unknown license", {"health": Certification(
            status="revoked", updated_at=T0, event_id="x")}, T0, False),
    ],
)  # fmt: skip
def test_is_qualified(case, snapshot, t, expected):
    assert is_qualified(snapshot, "health", t) is expected, case
    assert qualified_until(snapshot, "health", t) == (UNTIL if expected else None)


def test_order_revoked_before_granted_at_equal_ts():
    assert change_order(5, "revoked", "z") < change_order(5, "active", "a")
    assert change_order(5, "active", "z") < change_order(6, "revoked", "a")
    assert change_order(5, "active", "a") < change_order(5, "active", "b")


def test_a_grant_is_stored():
    c = apply_change(None, granted(valid_from=FROM, valid_until=UNTIL, ts=T0, eid="g1"))
    assert c == Certification(
        status="active", license_id="LIC-1", issuer="Health Board", profession="physician",
        valid_from=FROM, valid_until=UNTIL, updated_at=T0, event_id="g1",
    )  # fmt: skip


def test_a_revocation_keeps_what_it_revokes():
    g = apply_change(None, granted(ts=T0, eid="g1"))
    r = apply_change(g, revoked(ts=T0 + 1, eid="r1"))
    assert r is not None and g is not None
    assert (r.status, r.license_id, r.valid_until, r.updated_at, r.event_id) == (
        "revoked", "LIC-1", g.valid_until, T0 + 1, "r1",
    )  # fmt: skip


def test_a_revocation_with_no_grant_leaves_the_license_unknown():
    r = apply_change(None, revoked(ts=T0, eid="r1"))
    assert r == Certification(status="revoked", updated_at=T0, event_id="r1")


@pytest.mark.parametrize(
    ("case", "stored_change", "change", "applies"),
    [
        ("older grant after a newer one is ignored", granted(ts=T0, eid="g2"),
         granted(ts=T0 - 1, eid="g1"), False),
        ("older revocation after a grant is ignored", granted(ts=T0, eid="g1"),
         revoked(ts=T0 - 1, eid="r1"), False),
        ("the same change again is ignored", granted(ts=T0, eid="g1"),
         granted(ts=T0, eid="g1"), False),
        ("revocation at the same ts as the grant comes before it", granted(ts=T0, eid="g1"),
         revoked(ts=T0, eid="r1"), False),
        ("grant at the same ts as the revocation comes after it", revoked(ts=T0, eid="r1"),
         granted(ts=T0, eid="g1"), True),
        ("equal ts and kind: event_id decides", granted(ts=T0, eid="g1"),
         granted(ts=T0, eid="g2"), True),
        ("a newer revocation applies", granted(ts=T0, eid="g1"), revoked(ts=T0 + 1), True),
    ],
)  # fmt: skip
def test_only_later_changes_apply(case, stored_change, change, applies):
    stored = apply_change(None, stored_change)
    assert (apply_change(stored, change) is not None) is applies, case


LOG = [
    granted(ts=T0, eid="g1", valid_until=T0 + 10 * DAY),
    revoked(ts=T0 + DAY, eid="r1"),
    granted(ts=T0 + 2 * DAY, eid="g2", valid_until=T0 + 20 * DAY),
    granted(ts=T0 + 2 * DAY, eid="g3", valid_until=T0 + 30 * DAY),
    revoked(ts=T0 + 2 * DAY, eid="r2"),
]


def table(changes):
    stored = None
    for change in changes:
        new = apply_change(stored, change)
        stored = new if new is not None else stored
    return stored


def test_applying_the_log_twice_or_shuffled_gives_the_same_table():
    expected = table(LOG)
    assert expected is not None and (expected.event_id, expected.valid_until) == (
        "g3",
        T0 + 30 * DAY,
    )
    assert table(LOG + LOG) == expected
    for order in itertools.permutations(LOG):
        assert table(order) == expected, [c.event_id for c in order]


def test_a_shuffled_log_ending_in_a_revocation_gives_the_same_verdicts():
    # The license fields a revocation carries depend on which grant it found, but status,
    # order and every qualification verdict are the same in any order.
    log = [*LOG[:2], revoked(ts=T0 + 3 * DAY, eid="r3"), LOG[2]]
    expected = table(log)
    for order in itertools.permutations(log):
        got = table(order)
        assert (got.status, got.updated_at, got.event_id) == ("revoked", T0 + 3 * DAY, "r3")
        for t in range(T0 - DAY, T0 + 40 * DAY, DAY):
            assert is_qualified({"h": got}, "h", t) == is_qualified({"h": expected}, "h", t)


def test_json_round_trip_and_layout():
    c = cert()
    data = encode_certification(c)
    assert decode_certification(data) == c
    assert sorted(__import__("json").loads(data)) == sorted(
        ["status", "license_id", "issuer", "profession", "valid_from", "valid_until",
         "updated_at", "event_id"]
    )  # fmt: skip


@pytest.mark.parametrize("bad", [b"{", b"[]", b'{"status":"maybe"}', b"\xff"])
def test_bad_values_raise_the_project_error(bad):
    with pytest.raises(LiveGateError):
        decode_certification(bad)
