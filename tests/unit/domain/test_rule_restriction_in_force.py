"""restriction.in_force: restrictions in force are enforced on later events, with no further
deduction: a stream started by a banned creator is cut off, whatever its category; a product
linked by a banned creator, or on a surface whose commerce is revoked, is removed."""

import pytest

from pipeline.domain.state import Restrictions
from tests.unit.domain.builders import (
    DAY,
    T0,
    certs,
    linked,
    only,
    pairs,
    run,
    started,
    state,
    updated,
)  # fmt: skip

CUT = [("cut_off_stream", "restriction.in_force")]
REMOVE = [("remove_product_link", "restriction.in_force")]
BANNED = Restrictions(banned_until=T0 + DAY)
BAN_OVER = Restrictions(banned_until=T0)
FOREVER = Restrictions(banned_until="permanent")
NO_LIVE_COMMERCE = Restrictions(commerce_revoked={"live": T0 + DAY})
UNQUALIFIED_PRODUCT = [
    ("deduct_credit", "commerce.unqualified_product"),
    ("remove_product_link", "commerce.unqualified_product"),
]


@pytest.mark.parametrize(
    ("case", "event", "certifications", "restrictions", "expected"),
    [
        ("banned creator starts a gaming stream", started(category="gaming"), {}, BANNED, CUT),
        ("banned creator starts a health stream: no live.unqualified",
         started(category="health"), {}, BANNED, CUT),
        ("permanently banned", started(category="music"), {}, FOREVER, CUT),
        ("ban ended at ts", started(category="gaming"), {}, BAN_OVER, []),
        ("banned creator opens a stream by an update", updated("s5", title="hi"), {}, BANNED,
         CUT),
        ("banned creator links general goods", linked("general"), {}, BANNED, REMOVE),
        ("banned creator links a drug: one removal, no deduction", linked("drug"), {}, BANNED,
         REMOVE),
        ("commerce revoked on live, link on live", linked("general", "live"), {},
         NO_LIVE_COMMERCE, REMOVE),
        ("commerce revoked on live, link on showcase", linked("general", "showcase"), {},
         NO_LIVE_COMMERCE, []),
        ("revoked on live, drug on showcase", linked("drug", "showcase"), {},
         NO_LIVE_COMMERCE, UNQUALIFIED_PRODUCT),
        ("revocation expired at ts", linked("drug", "live"), {},
         Restrictions(commerce_revoked={"live": T0}), UNQUALIFIED_PRODUCT),
        ("permanent revocation", linked("general", "short_video"), {},
         Restrictions(commerce_revoked={"short_video": "permanent"}), REMOVE),
        ("medical personnel rule comes first", linked("general", "live"), certs("health"),
         NO_LIVE_COMMERCE, [
             ("remove_product_link", "commerce.medical_personnel"),
             ("revoke_commerce", "commerce.medical_personnel"),
             ("warn", "commerce.medical_personnel"),
         ]),
    ],
)  # fmt: skip
def test_restriction_in_force(case, event, certifications, restrictions, expected):
    d = run(event, certifications, state(restrictions=restrictions))
    assert pairs(d) == expected, case
    if expected in (CUT, REMOVE):
        assert d.new_state.credit == 12  # no further deduction


def test_the_banned_stream_does_not_stay_live():
    d = run(started("s2", category="gaming"), {}, state(restrictions=BANNED))
    assert only(d, "cut_off_stream").stream_id == "s2"
    assert d.new_state.streams == {}


def test_a_ban_from_credit_is_enforced_on_the_next_stream():
    d = run(started(category="health"), {}, state(credit=4))
    assert ("ban_account", "credit.ban_account") in pairs(d)
    assert only(d, "ban_account").duration_s == 180 * 86400
    nxt = run(started("s2", category="gaming", ts=T0 + DAY, eid="e2"), {}, d.new_state)
    assert pairs(nxt) == CUT
