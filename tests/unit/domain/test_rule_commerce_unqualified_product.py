"""commerce.unqualified_product: a product whose category maps to domain D (drug,
medical_device -> health; financial_product, insurance -> finance; legal_service -> law)
linked by a creator not qualified for D -> remove_product_link, deduct_credit (minor)."""

import pytest

from tests.unit.domain.builders import T0, cert, certs, linked, only, pairs, run, state

FIRES = [
    ("deduct_credit", "commerce.unqualified_product"),
    ("remove_product_link", "commerce.unqualified_product"),
]


@pytest.mark.parametrize(
    ("case", "event", "certifications", "expected"),
    [
        ("drug without health", linked("drug"), {}, FIRES),
        ("medical device without health", linked("medical_device", "live"), {}, FIRES),
        ("financial product without finance", linked("financial_product"), {}, FIRES),
        ("insurance without finance", linked("insurance", "short_video"), {}, FIRES),
        ("legal service without law", linked("legal_service"), {}, FIRES),
        ("legal service, qualified for health only", linked("legal_service"),
         certs("finance"), FIRES),
        ("financial product, qualified for finance", linked("financial_product"),
         certs("finance"), []),
        ("legal service, qualified for law", linked("legal_service"), certs("law"), []),
        ("financial product, finance expired", linked("financial_product"),
         certs(finance=cert(valid_until=T0)), FIRES),
        ("course maps to no domain", linked("course"), {}, []),
        ("health supplement maps to no domain", linked("health_supplement"), {}, []),
        ("general goods", linked("general"), {}, []),
        ("unknown category", linked("garden_tools"), {}, []),
    ],
)  # fmt: skip
def test_product_linked(case, event, certifications, expected):
    d = run(event, certifications)
    assert pairs(d) == expected, case


def test_key_fields():
    d = run(linked("drug", "live", link="L1", stream="s4"))
    remove = only(d, "remove_product_link")
    assert (remove.link_id, remove.product_id, remove.stream_id) == ("L1", "p-L1", "s4")
    deduct = only(d, "deduct_credit")
    assert (deduct.points, deduct.credit_after, deduct.severity) == (2, 10, "minor")
    assert d.outcome == "enforce"


def test_a_repeat_within_30_days_deducts_serious_and_crosses_8():
    st = run(linked("drug")).new_state
    d = run(linked("drug", link="l2", eid="e2", ts=T0 + 1000), {}, st)
    assert only(d, "deduct_credit").points == 4
    assert only(d, "deduct_credit").credit_after == 6
    assert ("limit_recommendation", "credit.limit_recommendation") in pairs(d)


def test_an_unlink_is_allowed():
    from tests.unit.domain.builders import unlinked

    d = run(unlinked("l1"), {}, state())
    assert (d.outcome, d.actions) == ("allow", [])
