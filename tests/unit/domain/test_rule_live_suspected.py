"""live.suspected: a stream whose category maps to no domain but whose title matches D's
keywords, by a creator not qualified for D -> limit_recommendation (24 h), flag_for_review."""

import pytest

from tests.unit.domain.builders import (
    HOUR,
    T0,
    certs,
    only,
    pairs,
    run,
    run_all,
    started,
    state,
    stream,
    updated,
)  # fmt: skip

FIRES = [("flag_for_review", "live.suspected"), ("limit_recommendation", "live.suspected")]


@pytest.mark.parametrize(
    ("case", "title", "certifications", "expected"),
    [
        ("Chinese health keywords", "中医养生讲座", {}, FIRES),
        ("English health keyword, any case", "Ask a DOCTOR anything", {}, FIRES),
        ("prescription", "my prescription tips", {}, FIRES),
        ("finance keyword", "best stocks to buy now", {}, FIRES),
        ("Chinese finance keyword", "教你理财", {}, FIRES),
        ("law keyword", "divorce lawyer Q&A", {}, FIRES),
        ("education keyword", "高考冲刺", {}, FIRES),
        ("English keyword next to Chinese", "炒stock心得", {}, FIRES),
        ("whole words only: refund is not fund", "refund policy chat", {}, []),
        ("whole words only: secure is not cure", "secure your account", {}, []),
        ("no keywords", "Minecraft speedrun", {}, []),
        ("no title", None, {}, []),
        ("qualified for the suspected domain", "ask a doctor", certs("health"), []),
        ("qualified for another domain", "ask a doctor", certs("finance"), FIRES),
    ],
)
def test_stream_started_with_a_suspicious_title(case, title, certifications, expected):
    d = run(started(category="gaming", title=title), certifications)
    assert pairs(d) == expected, case


def test_key_fields_and_the_restriction_it_leaves():
    d = run(started("s3", category="lifestyle", title="中医养生"))
    limit = only(d, "limit_recommendation")
    assert (limit.duration_s, limit.stream_id, limit.severity) == (24 * 3600, "s3", "minor")
    assert d.outcome == "enforce"
    assert d.new_state.restrictions.recommendation_limited_until == T0 + 24 * HOUR
    assert "s3" in d.new_state.streams  # suspected streams stay live
    assert d.new_state.credit == 12  # no deduction


def test_a_category_in_a_domain_is_not_merely_suspected():
    d = run(started(category="health", title="ask a doctor"), certs("health"))
    assert pairs(d) == []


@pytest.mark.parametrize(
    ("case", "update", "expected"),
    [
        ("title gains health keywords", updated(title="free medical advice"), FIRES),
        ("category moves to another no-domain one", updated(category="music"), []),
    ],
)
def test_stream_updated_rejudges(case, update, expected):
    d = run(update, {}, state(streams={"s1": stream("gaming", "just chatting")}))
    assert pairs(d) == expected, case


def test_each_stream_and_domain_is_judged_once_but_a_new_domain_is_judged():
    decisions = run_all(
        [
            started(category="gaming", title="doctor talk"),
            updated(title="doctor talk part 2", ts=T0 + 1, eid="u1"),
            updated(title="stock picks", ts=T0 + 2, eid="u2"),
        ]
    )
    assert [pairs(d) for d in decisions] == [FIRES, [], FIRES]
    assert "finance" in only(decisions[2], "flag_for_review").reason


def test_a_suspected_stream_moving_into_its_domain_is_cut_off():
    first, second = run_all(
        [started(category="gaming", title="doctor talk"), updated(category="health", ts=T0 + 1)]
    )
    assert pairs(first) == FIRES
    assert ("cut_off_stream", "live.unqualified") in pairs(second)
