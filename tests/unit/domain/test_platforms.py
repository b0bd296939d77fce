"""Platforms (CONTRACT §11): overlays merged and checked, the creator's platform, pre-v3
migration, tiered recovery, and the shipped platforms' differing outcomes for the same events."""

from __future__ import annotations

import re

import msgspec
import pytest

from pipeline.domain.decide import decide
from pipeline.domain.errors import PolicyError
from pipeline.domain.events import Event
from pipeline.domain.platforms import merge
from pipeline.domain.policy import load_policy
from pipeline.domain.state import CreatorState
from tests.unit.domain.builders import (
    DAY,
    POLICY,
    POLICY_TEXT,
    T0,
    certs,
    linked,
    pairs,
    started,
    state,
)

PLATFORMS = ("wechat-channels", "douyin", "kuaishou")


def on(platform: str | None, event: Event) -> Event:
    return msgspec.structs.replace(event, platform=platform)


def chain(platform: str | None, events: list[Event], certifications=None, st=None, policy=POLICY):
    out = []
    for ev in events:
        d = decide(on(platform, ev), certifications or {}, st, policy, ev.ts + 5)
        assert d is not None
        if d.rejected is None:
            st = d.new_state
        out.append(d)
    return out


# --- merge -------------------------------------------------------------------------------


def test_mappings_merge_key_by_key_lists_and_scalars_replace():
    base = {"credit": {"max": 12, "start": 12, "thresholds": [1, 2]}, "x": [1, 2], "y": 1}
    overlay = {"credit": {"max": 100, "thresholds": [3]}, "x": [9], "y": {"now": "a map"}}
    assert merge(base, overlay) == {
        "credit": {"max": 100, "start": 12, "thresholds": [3]},
        "x": [9],
        "y": {"now": "a map"},
    }
    assert base["credit"]["max"] == 12  # the base is not changed


def test_the_shipped_platforms_load_with_their_schemes():
    assert set(POLICY.platforms) == set(PLATFORMS)
    wechat, douyin, kuaishou = (POLICY.for_platform(p) for p in PLATFORMS)
    assert (wechat.credit.max, douyin.credit.max, kuaishou.credit.max) == (100, 12, 12)
    assert [(t.at_or_above, t.every_ms // DAY) for t in douyin.credit.recovery_tiers] == [
        (10, 30),
        (0, 7),
    ]
    assert POLICY.for_platform("unknown-platform") is POLICY
    assert POLICY.for_platform(None) is POLICY
    # one document, one version: overlays are versions of the same policy
    assert {p.version for p in POLICY.platforms.values()} == {POLICY.version}


def with_overlay(overlay_yaml: str) -> str:
    head, _, _ = POLICY_TEXT.partition("\nplatforms:\n")
    return head + "\nplatforms:\n" + overlay_yaml


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("overlay", "needle", "says"),
    [
        ("  Douyin:\n    credit: {max: 12}\n", "Douyin:", "is not [a-z0-9._-]"),
        ("  bad/name:\n    credit: {max: 12}\n", "bad/name:", "is not [a-z0-9._-]"),
        ("  douyin:\n    rules:\n      commerce.no_such_rule:\n        severity: minor\n",
         "commerce.no_such_rule", "has no `commerce.no_such_rule`"),
        ("  douyin:\n    credit:\n      bonus_points: 3\n", "bonus_points",
         "has no `bonus_points`"),
        ("  douyin:\n    rules:\n      live.unqualified:\n        colour: red\n",
         "colour", "platform `douyin`"),
        ("  douyin:\n    credit:\n      recovery:\n        - {at_or_above: 0, every_days: 7}\n"
         "        - {at_or_above: 10, every_days: 30}\n", "at_or_above: 10",
         "from the highest at_or_above down"),
        ("  douyin:\n    credit:\n      recovery:\n        - {at_or_above: 10, every_days: 30}\n",
         "at_or_above: 10", "must be at_or_above 0"),
        # the base's start no longer fits the overlay's max: the base's line, the platform
        ("  douyin:\n    credit: {max: 5}\n", "start: 12", "platform `douyin`"),
    ],
)  # fmt: skip
def test_a_bad_overlay_is_refused_naming_platform_and_line(overlay, needle, says):
    text = with_overlay(overlay)
    with pytest.raises(PolicyError) as err:
        load_policy(text)
    assert says in str(err.value)
    assert err.value.line == line_of(text, needle), str(err.value)


def test_an_overlay_can_change_numbers_actions_and_notices():
    text = with_overlay(
        "  tiny:\n    rules:\n      live.unqualified:\n        actions: [cut_off_stream]\n"
        "    notices:\n      actions:\n        cut_off_stream:\n"
        '          zh-CN: "直播已中断（{platform}）。"\n          en: "Cut off on {platform}."\n'
    )
    policy = load_policy(text)
    tiny = policy.for_platform("tiny")
    assert [a.name for a in tiny.rules["live.unqualified"].actions] == ["cut_off_stream"]
    d = chain("tiny", [started(category="health")], policy=policy)[0]
    assert pairs(d) == [("cut_off_stream", "live.unqualified")]
    notice = d.actions[0].notice
    assert "。直播已中断（tiny）。如有异议" in notice["zh-CN"]
    assert " Cut off on tiny. If you disagree" in notice["en"]


# --- notices -----------------------------------------------------------------------------


def test_every_action_of_every_platform_carries_both_languages_without_placeholders():
    events = [started(category="health", eid="e1"), linked("drug", eid="e2", ts=T0 + 1)]
    for platform in (*PLATFORMS, None):
        for d in chain(platform, events):
            assert d.actions
            for a in d.actions:
                assert a.notice is not None and set(a.notice) == {"zh-CN", "en"}
                for text in a.notice.values():  # and every value these notices name is known
                    assert not re.search(r"\{[a-z_]+\}", text) and "—" not in text, text


def test_a_notice_says_rule_cost_and_appeal_date_from_event_time_not_decision_time():
    ev = on("douyin", started(category="health"))
    d1 = decide(ev, {}, None, POLICY, ev.ts + 5)
    d2 = decide(ev, {}, None, POLICY, ev.ts + 99 * DAY)  # re-emitted much later
    deduct1 = next(a for a in d1.actions if a.action == "deduct_credit")
    deduct2 = next(a for a in d2.actions if a.action == "deduct_credit")
    assert deduct1.notice == deduct2.notice
    en = deduct1.notice["en"]
    assert "live.unqualified" in en and "4 credit points" in en and "now 8" in en
    assert "2027-04-15" in en  # T0 (2027-01-15) + the 90-day appeal window
    assert "抖音创作者服务中心" in deduct1.notice["zh-CN"]  # Douyin's own appeal text
    assert "2027年4月15日" in deduct1.notice["zh-CN"]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (("      en: \"Hello, you are certified as a medical professional. Under rule "
          "commerce.medical_personnel", "      en: \"Hello {nobody}"),
         "unknown placeholder {nobody}"),
        (("    warn:\n      zh-CN: \"请您认真学习平台规则，再次违规将受到更严厉的处理。\"\n",
          "    warn:\n"), "missing key `zh-CN`"),
        (("    certification.lapsed_live:\n", "    certification.lapsed_livex:\n"),
         "no notice for `certification.lapsed_live`"),
    ],
)  # fmt: skip
def test_a_catalogue_with_a_gap_or_an_unknown_placeholder_is_refused(edit, says):
    old, new = edit
    assert old in POLICY_TEXT
    with pytest.raises(PolicyError) as err:
        load_policy(POLICY_TEXT.replace(old, new, 1))
    assert says in str(err.value)
    assert err.value.line is not None


def test_an_overlay_notice_with_an_unknown_placeholder_names_the_platform():
    text = POLICY_TEXT.replace("appeal in the Douyin creator service centre (Appeals) until "
                               "{appeal_by}", "appeal by {deadline}")  # fmt: skip
    with pytest.raises(PolicyError) as err:
        load_policy(text)
    assert "platform `douyin`" in str(err.value) and "{deadline}" in str(err.value)
    assert err.value.line == line_of(text, "appeal by {deadline}")


# --- the creator's platform --------------------------------------------------------------


def test_the_first_platform_is_kept_and_an_event_without_one_is_the_creators():
    d1, d2 = chain("douyin", [started("s1", "gaming", eid="e1")]), None
    st = d1[0].new_state
    assert st.platform == "douyin" and d1[0].indexed == "douyin"
    d2 = decide(started("s2", "health", eid="e2", ts=T0 + 1), {}, st, POLICY, T0 + 9)
    assert d2 is not None and d2.rejected is None and d2.indexed is None
    assert {a.platform for a in d2.actions} == {"douyin"} and d2.platform == "douyin"


def test_another_platform_for_the_same_creator_is_a_platform_mismatch_naming_both():
    st = chain("douyin", [started("s1", "gaming", eid="e1")])[0].new_state
    d = decide(on("kuaishou", started("s2", "health", eid="e2")), {}, st, POLICY, T0 + 9)
    assert d is not None and d.rejected is not None
    assert d.rejected.code == "platform_mismatch"
    assert "'kuaishou'" in d.rejected.detail and "'douyin'" in d.rejected.detail
    assert d.new_state is st and not d.actions


@pytest.mark.parametrize(
    ("platform", "credit_before", "credit_after"),
    [("wechat-channels", 8, 66), ("wechat-channels", 12, 100), ("douyin", 7, 7),
     ("kuaishou", 5, 5), ("bilibili", 8, 8)],
)  # fmt: skip
def test_a_pre_v3_state_takes_the_next_events_platform_credit_rescaled(
    platform, credit_before, credit_after
):
    old = state(credit=credit_before)  # written before v3: no platform
    assert old.platform is None
    d = decide(on(platform, started("s9", "gaming")), {}, old, POLICY, T0 + 5)
    assert d is not None and d.migration is not None
    assert d.new_state.platform == platform  # an unknown one too: the base decides it
    assert d.new_state.credit == credit_after
    assert (d.migration.credit_before, d.migration.credit_after) == (credit_before, credit_after)
    assert d.indexed == platform
    assert d.state_before["platform"] is None  # what it read: the pre-v3 state


def test_events_naming_no_platform_leave_it_open_until_one_does():
    """Certification changes name no platform: they must not fix the creator's (as `default`)."""
    from tests.unit.domain.builders import granted

    first = decide(granted("health", eid="e-cert"), {}, None, POLICY, T0)
    assert first is not None and first.new_state.platform is None
    assert first.indexed == "default" and first.platform == "default"  # in `default`'s index
    old = state(credit=8)
    plain = decide(started("s9", "gaming"), {}, old, POLICY, T0 + 5)
    assert plain is not None and plain.migration is None and plain.new_state.platform is None
    then = decide(on("wechat-channels", linked("general", eid="e-link", ts=T0 + 1)),
                  certs("health"), first.new_state, POLICY, T0 + 9)  # fmt: skip
    assert then is not None and then.rejected is None and then.indexed == "wechat-channels"
    assert then.new_state.platform == "wechat-channels"
    assert then.migration is not None and then.migration.credit_after == 100
    assert {a.platform for a in then.actions} == {"wechat-channels"}


# --- the same events, three platforms (the per-platform table) ---------------------------

MEDICAL = certs("health")
LINK = [linked("general", eid="e-link")]


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("douyin", [("remove_product_link", "commerce.medical_personnel"),
                    ("revoke_commerce", "commerce.medical_personnel"),
                    ("warn", "commerce.medical_personnel")]),
        ("kuaishou", [("remove_product_link", "commerce.medical_personnel"),
                      ("warn", "commerce.medical_personnel")]),
        ("wechat-channels", [("remove_product_link", "commerce.medical_personnel"),
                             ("revoke_commerce", "commerce.medical_personnel"),
                             ("warn", "commerce.medical_personnel")]),
    ],
)  # fmt: skip
def test_a_physicians_product_link_per_platform(platform, expected):
    (d,) = chain(platform, LINK, MEDICAL)
    assert pairs(d) == expected
    revoked = d.new_state.restrictions.commerce_revoked_while_qualified
    assert bool(revoked) == (platform != "kuaishou")


# A serious violation (an unqualified health stream), then a minor one (a drug linked).
VIOLATIONS = [started("s1", "health", eid="e1"), linked("drug", eid="e2", ts=T0 + DAY)]


@pytest.mark.parametrize(
    ("platform", "credits", "thresholds"),
    [
        # 100 - 30 = 70: at or below WeChat's 70, limited; - 10 = 60
        ("wechat-channels", [70, 60], [["credit.limit_recommendation"], []]),
        # 12 - 4 = 8: at or below Douyin's 8, limited; - 2 = 6
        ("douyin", [8, 6], [["credit.limit_recommendation"], []]),
        ("kuaishou", [8, 6], [["credit.limit_recommendation"], []]),
    ],
)  # fmt: skip
def test_the_same_violations_on_a_100_and_a_12_point_scheme(platform, credits, thresholds):
    ds = chain(platform, VIOLATIONS)
    assert [next(a.credit_after for a in d.actions if a.action == "deduct_credit") for d in ds] == (
        credits
    )
    assert [
        sorted(a.rule_id for a in d.actions if a.rule_id.startswith("credit.")) for d in ds
    ] == (thresholds)


def test_one_minor_violation_on_each_scheme():
    (w,) = chain("wechat-channels", [linked("drug", eid="e-drug")])
    (d,) = chain("douyin", [linked("drug", eid="e-drug")])
    assert [(a.points, a.credit_after) for a in w.actions if a.points] == [(10, 90)]
    assert [(a.points, a.credit_after) for a in d.actions if a.points] == [(2, 10)]


# --- tiered recovery ---------------------------------------------------------------------


def credit_at(platform: str, st: CreatorState, t: int) -> int:
    d = decide(on(platform, started("s-later", "gaming", eid=f"e-at-{t}", ts=t)), {}, st,
               POLICY, t)  # fmt: skip
    assert d is not None
    return d.standing.credit if d.standing is not None else _effective(platform, d, t)


def _effective(platform: str, d, t: int) -> int:
    from pipeline.domain.credit import effective_credit

    return effective_credit(d.new_state, t, POLICY.for_platform(platform))


@pytest.mark.parametrize(
    ("credit", "clean_days", "expected"),
    [
        (10, 29, 10), (10, 30, 11), (10, 60, 12), (11, 30, 12), (12, 400, 12),
        (8, 6, 8), (8, 7, 9), (8, 14, 10), (8, 43, 10), (8, 44, 11),  # 7+7, then 30
        (0, 70, 10), (0, 100, 11),
    ],
)  # fmt: skip
def test_douyin_recovers_a_point_per_30_clean_days_from_10_and_per_7_below(
    credit, clean_days, expected
):
    st = CreatorState(credit=credit, last_deduction_ts=T0, platform="douyin")
    assert _effective("douyin", _fake(st), T0 + clean_days * DAY) == expected


def test_the_base_and_kuaishou_recover_a_point_per_7_days_wechat_5():
    for platform, after in (("kuaishou", 11), ("default", 11), ("wechat-channels", 95)):
        credit = 10 if platform != "wechat-channels" else 90
        st = CreatorState(credit=credit, last_deduction_ts=T0, platform=platform)
        assert _effective(platform, _fake(st), T0 + 7 * DAY) == after


def _fake(st: CreatorState):
    class D:
        new_state = st

    return D()


def test_the_creator_view_shows_the_notices_the_creator_was_sent():
    from pipeline.domain.view import creator_view

    events = [started("s1", "health", eid="e1"), linked("general", eid="e2", ts=T0 + 1)]
    for platform in PLATFORMS:
        ds = chain(platform, events, certs())
        sent = {a.action_id: a.notice for d in ds for a in d.actions}
        view = creator_view("creator-1", ds[-1].new_state, {}, POLICY, T0 + 2)
        shown = [*view["in_force"], *view["deductions"]]
        assert shown and view["platform"] == platform
        for item in shown:
            assert item["notice"] == sent[item["action_id"]], item
        assert view["credit_max"] == POLICY.for_platform(platform).credit.max


def test_a_thresholds_notice_names_the_credit_the_deduction_left():
    (d,) = chain("douyin", [started("s1", "health")])
    limit = next(a for a in d.actions if a.rule_id == "credit.limit_recommendation")
    assert limit.credit_after is None  # the action's own fields stay the contract's
    assert "fallen to 8" in limit.notice["en"] and "降至8分" in limit.notice["zh-CN"]


def test_default_names_no_platform_for_a_creator_without_one():
    """`default` is the base: a console verdict copies it from a queue item of a creator with
    no platform yet; the creator still takes the first real platform named."""
    d1 = decide(on("default", started("s1", "gaming", eid="e1")), {}, None, POLICY, T0)
    assert d1 is not None and d1.new_state.platform is None and d1.indexed == "default"
    d2 = decide(on("douyin", started("s2", "gaming", eid="e2")), {}, d1.new_state, POLICY, T0)
    assert d2 is not None and d2.rejected is None and d2.new_state.platform == "douyin"
    d3 = decide(on("default", started("s3", "gaming", eid="e3")), {}, d2.new_state, POLICY, T0)
    assert d3 is not None and d3.rejected is not None  # a Douyin creator's `default` event
    assert d3.rejected.code == "platform_mismatch"
