"""What the pages show from the contract's JSON: standing, restrictions, decisions, evidence."""

from __future__ import annotations

from pipeline.console import pages
from pipeline.domain.certifications import Certification

NOW = 1_000_000
SNAPSHOT = {
    "creator_id": "c1", "credit": 8, "banned_until": None,
    "recommendation_limited_until": NOW + 5_000, "commerce_revoked": {"live": None,
    "showcase": "while_qualified", "short_video": NOW - 1}, "decided_at": NOW - 10,
}  # fmt: skip
LIMIT = {"action": "limit_recommendation", "action_id": "a1", "rule_id": "live.suspected",
         "reason": "suspected health", "evidence": ["e1"], "event_ts": NOW - 100,
         "decided_at": NOW - 99, "decision_id": "d1", "until": NOW + 5_000}  # fmt: skip
REVOKE = {"action": "revoke_commerce", "action_id": "a2", "rule_id": "credit.commerce",
          "reason": "credit at 4", "evidence": ["e2"], "event_ts": NOW - 50,
          "decided_at": NOW - 49, "decision_id": "d2", "surfaces": ["live", "showcase"],
          "until": NOW + 9_000}  # fmt: skip
DEDUCT = {"action": "deduct_credit", "action_id": "a3", "rule_id": "credit.commerce",
          "reason": "credit at 4", "evidence": ["e2"], "event_ts": NOW - 50,
          "decided_at": NOW - 49, "decision_id": "d2", "points": 4}  # fmt: skip
VIEW = {"creator_id": "c1", "credit": 9, "credit_max": 12, "as_of": NOW,
        "restrictions": {"recommendation_limited_until": NOW + 5_000, "commerce_revoked": {}},
        "in_force": [REVOKE, LIMIT], "deductions": [DEDUCT],
        "live_streams": {"s1": {"category": "gaming", "title": "Doctor talk"}}}  # fmt: skip


def test_credit_from_the_snapshot_with_the_views_figure_beside_it():
    s = pages.standing(SNAPSHOT, VIEW, NOW)
    assert (s.credit, s.credit_max, s.credit_source, s.view_credit) == (
        8, 12, "enforcement.restrictions", 9)  # fmt: skip
    only_view = pages.standing(None, VIEW, NOW)
    assert (only_view.credit, only_view.credit_source, only_view.view_credit) == (
        9, "worker view", None)  # fmt: skip
    assert pages.standing(None, None, NOW).credit is None


def test_restrictions_from_the_snapshot_in_force_only():
    rows = pages.standing(SNAPSHOT, None, NOW).restrictions
    assert [(r.what, r.until) for r in rows] == [
        ("recommendation limited", NOW + 5_000),
        ("commerce revoked: live", None),
        ("commerce revoked: showcase", "while_qualified"),
    ]  # short_video ended


def test_restrictions_from_the_view_name_the_decision_that_imposed_them():
    s = pages.standing(SNAPSHOT, VIEW, NOW)
    assert s.restrictions_source == "worker view"
    assert [(r.what, r.until, r.imposed_by["rule_id"]) for r in s.restrictions] == [
        ("commerce revoked: live, showcase", NOW + 9_000, "credit.commerce"),
        ("recommendation limited", NOW + 5_000, "live.suspected"),
    ]


def test_decisions_one_row_each_newest_first_with_each_actions_rule_and_reason():
    rows = pages.decisions(VIEW)
    assert [d["decision_id"] for d in rows] == ["d2", "d1"]
    assert [(a["action"], a["rule_id"], a["points"]) for a in rows[0]["actions"]] == [
        ("revoke_commerce", "credit.commerce", None),
        ("deduct_credit", "credit.commerce", 4),
    ]
    assert rows[1]["actions"][0]["reason"] == "suspected health"
    assert rows[0]["evidence"] == ["e2"] and rows[1]["event_ts"] == NOW - 100
    assert pages.decisions(None) == [] and pages.decisions({"credit": 1}) == []


def test_the_stream_from_the_item_or_the_views_live_streams():
    assert pages.stream_of({"stream_id": "s1"}, VIEW) == {
        "stream_id": "s1",
        "category": "gaming",
        "title": "Doctor talk",
        "live": True,
    }
    assert pages.stream_of({"stream_id": "s1", "title": "own"}, VIEW) == {
        "stream_id": "s1",
        "title": "own",
    }
    assert pages.stream_of({}, VIEW) is None


def test_reports_carried_by_the_item_or_named_by_the_view():
    assert pages.reports_of({"reports": [{"reporter_id": "u1"}, "junk"]}, None) == [
        {"reporter_id": "u1"}
    ]
    view = {"reports": {"s1": {"reporters": {"u2": 5, "u1": 3}}}}
    assert pages.reports_of({"stream_id": "s1"}, view) == [
        {"reporter_id": "u1", "ts": 3},
        {"reporter_id": "u2", "ts": 5},
    ]
    assert pages.reports_of({"stream_id": "s9"}, view) == []


def test_certifications_say_whether_they_qualify_now():
    certs = {
        "health": Certification(status="active", license_id="L1", issuer="Board",
                                valid_from=0, valid_until=NOW + 1, updated_at=0, event_id="g"),
        "law": Certification(status="revoked", updated_at=0, event_id="r"),
        "finance": Certification(status="active", valid_from=0, valid_until=NOW,
                                 updated_at=0, event_id="f"),
    }  # fmt: skip
    rows = pages.certifications(certs, NOW)
    assert [(c["domain"], c["qualified"]) for c in rows] == [
        ("finance", False),
        ("health", True),
        ("law", False),
    ]


def test_more_fields_are_those_the_page_has_no_place_for():
    assert pages.more_fields({"kind": "review", "review_id": "r", "severity": "serious",
                              "reports": []}) == {"severity": "serious"}  # fmt: skip


def test_the_appealed_action_from_the_view():
    assert pages.appealed_action({"action_id": "a3"}, VIEW)["points"] == 4
    assert pages.appealed_action({"action_id": "a1"}, VIEW)["rule_id"] == "live.suspected"
    assert pages.appealed_action({"action_id": "zz"}, VIEW) is None
    assert (
        pages.appealed_action({}, VIEW) is None
        and pages.appealed_action({"action_id": "a1"}, None) is None
    )
