"""commerce.medical_personnel: a creator qualified for health links any product, on any
surface -> remove_product_link, revoke_commerce on all surfaces (permanent while qualified),
warn; from the second such link on, also deduct_credit (minor)."""

import pytest

from tests.unit.domain.builders import (
    DAY,
    T0,
    cert,
    certs,
    linked,
    only,
    pairs,
    run,
    run_all,
    state,
)  # fmt: skip

FIRST = [
    ("remove_product_link", "commerce.medical_personnel"),
    ("revoke_commerce", "commerce.medical_personnel"),
    ("warn", "commerce.medical_personnel"),
]
LATER = sorted([*FIRST, ("deduct_credit", "commerce.medical_personnel")])


@pytest.mark.parametrize(
    ("case", "event", "certifications", "links_before", "expected"),
    [
        ("first link, general goods", linked("general"), certs("health"), 0, FIRST),
        ("first link, a drug: only this rule", linked("drug"), certs("health"), 0, FIRST),
        ("first link on the live surface", linked("general", "live"), certs("health"), 0, FIRST),
        ("first link on a short video", linked("course", "short_video"), certs("health"), 0, FIRST),
        ("second link deducts", linked("general"), certs("health"), 1, LATER),
        ("fifth link deducts", linked("general"), certs("health"), 4, LATER),
        ("qualified for finance only", linked("general"), certs("finance"), 0, []),
        ("health certification expired", linked("general"),
         certs(health=cert(valid_until=T0)), 0, []),
        ("health certification revoked", linked("general"),
         certs(health=cert(status="revoked")), 0, []),
    ],
)  # fmt: skip
def test_product_linked(case, event, certifications, links_before, expected):
    d = run(event, certifications, state(medical_links=links_before))
    assert pairs(d) == expected, case


def test_key_fields():
    d = run(linked("general", link="L5"), certs("health"))
    remove = only(d, "remove_product_link")
    assert (remove.link_id, remove.product_id) == ("L5", "p-L5")
    revoke = only(d, "revoke_commerce")
    assert revoke.surfaces == ("live", "short_video", "showcase")
    assert revoke.duration_s is None  # permanent (while qualified)
    assert d.new_state.restrictions.commerce_revoked_while_qualified == {
        "live": "health", "short_video": "health", "showcase": "health",
    }  # fmt: skip


def test_deductions_from_the_second_link_escalate_within_30_days():
    decisions = run_all(
        [linked(link=f"l{i}", eid=f"e{i}", ts=T0 + i * DAY) for i in range(3)], certs("health")
    )
    assert [sum(a.points or 0 for a in d.actions) for d in decisions] == [0, 2, 4]
    assert only(decisions[2], "deduct_credit").severity == "serious"


def test_the_revocation_ends_with_the_qualification():
    health_until = T0 + 10 * DAY
    qualified = certs(health=cert(valid_until=health_until))
    st = run(linked("general"), qualified).new_state
    after = run(linked("general", link="l2", eid="e2", ts=health_until), qualified, st)
    assert pairs(after) == []
    drug = run(linked("drug", link="l3", eid="e3", ts=health_until), qualified, st)
    assert pairs(drug) == [
        ("deduct_credit", "commerce.unqualified_product"),
        ("remove_product_link", "commerce.unqualified_product"),
    ]
