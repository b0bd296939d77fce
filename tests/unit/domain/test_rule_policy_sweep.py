"""policy_sweep (CONTRACT §11): commerce.medical_personnel applied to a creator with no new
event: revoke selling and warn, on the creator's own platform only, once."""

from __future__ import annotations

import msgspec
import pytest

from pipeline.domain.decide import decide
from pipeline.domain.events import PolicySweep
from pipeline.domain.state import CreatorState
from tests.unit.domain.builders import CREATOR, POLICY, T0, certs, pairs, started

SWEEP = "0123456789abcdef"
SWEPT = [("revoke_commerce", "commerce.medical_personnel"), ("warn", "commerce.medical_personnel")]


def sweep(platform: str, rule: str = "commerce.medical_personnel", sid: str = SWEEP):
    return PolicySweep(event_id=f"{sid}:{CREATOR}", ts=T0 + 1000, creator_id=CREATOR,
                       platform=platform, sweep_id=sid, rule_id=rule)  # fmt: skip


def creator_on(platform: str) -> CreatorState:
    ev = msgspec.structs.replace(started("s0", "gaming", eid="e0"), platform=platform)
    d = decide(ev, {}, None, POLICY, T0)
    assert d is not None
    return d.new_state


@pytest.mark.parametrize(
    ("creator", "swept", "certifications", "rule", "expected"),
    [
        ("douyin", "douyin", certs("health"), "commerce.medical_personnel", SWEPT),
        ("wechat-channels", "wechat-channels", certs("health"), "commerce.medical_personnel",
         SWEPT),
        # another platform's sweep: decided allow, not a platform_mismatch
        ("kuaishou", "douyin", certs("health"), "commerce.medical_personnel", []),
        # Kuaishou's rule revokes nothing: nothing to sweep
        ("kuaishou", "kuaishou", certs("health"), "commerce.medical_personnel", []),
        ("douyin", "douyin", certs("finance"), "commerce.medical_personnel", []),
        ("douyin", "douyin", certs("health"), "live.unqualified", []),
    ],
)  # fmt: skip
def test_sweep(creator, swept, certifications, rule, expected):
    d = decide(sweep(swept, rule), certifications, creator_on(creator), POLICY, T0 + 2000)
    assert d is not None and d.rejected is None
    assert pairs(d) == expected
    assert d.outcome == ("enforce" if expected else "allow")
    for a in d.actions:
        assert a.platform == creator and a.notice is not None
        if a.action == "revoke_commerce":
            assert a.surfaces == ("live", "short_video", "showcase")
            assert a.while_qualified == "health"


def test_a_sweep_of_a_creator_with_no_platform_yet_is_allow():
    d = decide(sweep("douyin"), certs("health"), CreatorState(credit=12), POLICY, T0 + 2000)
    assert d is not None and d.rejected is None and d.actions == []
    assert d.new_state.platform is None and d.indexed is None


def test_a_second_sweep_changes_nothing():
    first = decide(sweep("douyin"), certs("health"), creator_on("douyin"), POLICY, T0 + 2000)
    assert first is not None and first.actions
    again = decide(sweep("douyin", sid="fedcba9876543210"), certs("health"), first.new_state,
                   POLICY, T0 + 3000)  # fmt: skip
    assert again is not None and again.actions == [] and again.outcome == "allow"
