"""config/policy.yaml: strict loading, lines in errors, derived versions, other schemes."""

import hashlib

import pytest

from pipeline.domain.errors import PolicyError
from pipeline.domain.policy import load_policy, policy_version
from tests.unit.domain.builders import POLICY, POLICY_TEXT, only, run, started, state


def test_the_default_policy_loads_with_its_lookup_tables():
    p = POLICY
    assert {c: p.category_domain.get(c) for c in
            ["health", "medical", "finance", "investment", "insurance", "law", "legal",
             "education", "gaming", "lifestyle", "music"]} == {
        "health": "health", "medical": "health", "finance": "finance",
        "investment": "finance", "insurance": "finance", "law": "law", "legal": "law",
        "education": "education", "gaming": None, "lifestyle": None, "music": None,
    }  # fmt: skip
    assert {k: p.product_domain.get(k) for k in
            ["drug", "medical_device", "financial_product", "insurance", "legal_service",
             "course", "general"]} == {
        "drug": "health", "medical_device": "health", "financial_product": "finance",
        "insurance": "finance", "legal_service": "law", "course": None, "general": None,
    }  # fmt: skip
    assert "unqualified_professional_content" in p.professional_reasons
    c = p.credit
    assert (c.start, c.max, c.deductions) == (12, 12, {"minor": 2, "serious": 4, "severe": 12})
    assert (c.repeat_window_ms, c.recovery_points, c.recovery_every_ms) == (
        30 * 86_400_000, 1, 7 * 86_400_000,
    )  # fmt: skip
    assert [(t.at_or_below, t.action.name, t.action.duration_ms) for t in c.thresholds] == [
        (8, "limit_recommendation", 7 * 86_400_000),
        (4, "revoke_commerce", 30 * 86_400_000),
        (0, "ban_account", 180 * 86_400_000),
    ]
    assert p.rules["reports.threshold"].window_ms == 10 * 60_000
    assert p.rules["reports.threshold"].distinct_reporters == 5
    assert [b.min_confidence for b in p.rules["reports.machine"].bands] == [0.9, 0.6]
    assert p.rules["live.suspected"].actions[0].duration_ms == 24 * 3_600_000
    assert (p.dedup_horizon_ms, p.max_decided_ids, p.stream_idle_ms) == (
        7 * 86_400_000, 2048, 24 * 3_600_000,
    )  # fmt: skip
    for words in p.title_keywords.values():
        assert all(w == w.lower() for w in words)
    assert {"医生", "doctor"} <= set(p.title_keywords["health"])


def test_the_version_is_derived_from_the_content():
    assert POLICY.version == hashlib.sha256(POLICY_TEXT.encode()).hexdigest()[:16]
    assert POLICY.text == POLICY_TEXT
    assert policy_version(POLICY_TEXT + "# a comment\n") != POLICY.version
    assert len(POLICY.version) == 16


def line_of(text, needle):
    if "\n" in needle:  # a needle over several lines: the line it starts on
        return text[: text.index(needle)].count("\n") + 1
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


BROKEN = [
    # (case, replace this, with that, the line to blame contains, words in the reason)
    ("unknown top-level key", "state:\n", "stat:\n  x: 1\nstate:\n", "stat:", "unknown key"),
    ("unknown action", "    actions: [cut_off_stream, deduct_credit, warn]\n",
     "    actions: [cut_off_stream, deduct_credits, warn]\n", "deduct_credits",
     "deduct_credits"),
    ("unknown domain in the category map", "  legal: law\n", "  legal: lawyers\n",
     "legal: lawyers", "lawyers"),
    ("unknown domain of a product", "  drug: health\n", "  drug: medicine\n",
     "drug: medicine", "medicine"),
    ("keywords for an unknown domain", "  law: [律师", "  laws: [律师", "laws: [", "laws"),
    ("wrong type", "  start: 12\n", "  start: twelve\n", "start: twelve", "integer"),
    ("credit above the maximum", "  start: 12\n", "  start: 13\n", "start: 13", "out of range"),
    ("bad duration", "  repeat_window: 30d\n", "  repeat_window: 30 days\n",
     "repeat_window", "duration"),
    ("unknown key in a rule", "    distinct_reporters: 5\n",
     "    distinct_reporters: 5\n    distinct_reporter: 5\n", "distinct_reporter: 5",
     "unknown key"),
    ("rule missing", "  certification.lapsed_live:\n    severity: serious\n"
     "    actions: [cut_off_stream, warn]\n", "", "rules:", "certification.lapsed_live"),
    ("unknown rule", "  restriction.in_force:\n",
     "  restriction.in_forc:\n    severity: minor\n  restriction.in_force:\n",
     "restriction.in_forc:", "unknown key"),
    ("duplicate key", "  gaming: null\n", "  gaming: null\n  gaming: health\n",
     "gaming: health", "duplicate"),
    # YAML reports where it noticed: the line after the unclosed bracket.
    ("YAML syntax", "  music: null\n", "  music: [null\n", "entertainment:", "YAML"),
    ("unknown severity", "    severity: minor\n    actions: [remove_product_link, deduct_credit]",
     "    severity: mild\n    actions: [remove_product_link, deduct_credit]",
     "severity: mild", "mild"),
    ("duration missing",
     "      - limit_recommendation: {duration: 24h}\n      - flag_for_review\n\n",
     "      - limit_recommendation\n      - flag_for_review\n\n", "- limit_recommendation",
     "duration"),
    ("confidence above 1", "      - min_confidence: 0.9\n", "      - min_confidence: 9\n",
     "min_confidence: 9", "out of range"),
    # Two thresholds with one action would give two actions with one action_id (issue 12 #9).
    ("the same action at two thresholds",
     "      action: revoke_commerce\n      duration: 30d\n"
     "      surfaces: [live, short_video, showcase]\n",
     "      action: limit_recommendation\n      duration: 30d\n",
     "action: limit_recommendation\n      duration: 30d", "already at"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "old", "new", "blamed", "words"), BROKEN)
def test_a_broken_policy_names_the_line(case, old, new, blamed, words):
    assert old in POLICY_TEXT, case
    text = POLICY_TEXT.replace(old, new, 1)
    with pytest.raises(PolicyError) as info:
        load_policy(text)
    err = info.value
    assert err.line == line_of(text, blamed), (case, str(err))
    assert words in err.reason, (case, str(err))
    assert str(err).startswith(f"config/policy.yaml line {err.line}: ")


@pytest.mark.parametrize("text", ["", "- a list\n", "just a string\n"])
def test_not_a_policy_at_all(text):
    with pytest.raises(PolicyError):
        load_policy(text)


HUNDRED = """credit:
  start: 100
  max: 100
  deductions: {minor: 10, serious: 30, severe: 100}
  repeat_window: 30d
  recovery: {points: 5, every: 7d}
  thresholds:
    - at_or_below: 60
      action: limit_recommendation
      duration: 7d
    - at_or_below: 30
      action: revoke_commerce
      duration: 30d
      surfaces: [live, short_video, showcase]
    - at_or_below: 0
      action: ban_account
      duration: permanent

"""


def test_a_100_point_scheme_is_one_file_away():
    start = POLICY_TEXT.index("credit:\n")
    end = POLICY_TEXT.index("# Each rule:")
    p = load_policy(POLICY_TEXT[:start] + HUNDRED + POLICY_TEXT[end:])
    assert p.version != POLICY.version
    d = run(started(category="health"), {}, state(credit=100), policy=p)
    deduct = only(d, "deduct_credit")
    assert (deduct.points, deduct.credit_after) == (30, 70)
    assert d.actions[0].policy_version == p.version
    d = run(started(category="health"), {}, state(credit=30), policy=p)
    ban = only(d, "ban_account")
    assert (ban.rule_id, ban.duration_s) == ("credit.ban_account", None)
    assert d.new_state.restrictions.banned_until == "permanent"


def test_reviews_and_appeals_settings_and_their_defaults_for_older_policies():
    p = POLICY
    assert (p.appeal_window_ms, p.review_sla_ms) == (90 * 86_400_000, 30 * 60_000)
    assert (p.max_open_appeals, p.max_enforcements, p.max_open_reviews, p.max_closed_items) == (
        4, 32, 32, 128)  # fmt: skip
    assert [a.name for a in p.rules["review.confirmed"].actions] == [
        "cut_off_stream", "deduct_credit", "warn"]  # fmt: skip
    assert p.rules["review.confirmed"].severity == "serious"
    # A policy written before v2 (the policy history keeps them) loads with the defaults.
    head = POLICY_TEXT.split("\nappeals:")[0]
    old = (
        head.split("\n  # Verdicts (moderation.reviews).")[0]
        + "\n"
        + head.split("\n  appeal.overturned:\n    severity: minor\n")[1]
    )
    assert "review.confirmed" not in old and "appeals:" not in old
    older = load_policy(old)
    assert older.appeal_window_ms == p.appeal_window_ms and older.review_sla_ms == p.review_sla_ms
    assert older.rules["review.confirmed"] == p.rules["review.confirmed"]


@pytest.mark.parametrize(
    ("case", "edit", "message"),
    [
        ("a window that is not a duration", ("window: 90d", "window: soon"), "appeals"),
        ("an unknown key", ("  sla: 30m", "  sla: 30m\n  late: 1h"), "unknown key"),
        ("a cap of zero", ("  max_open: 4", "  max_open: 0"), "out of range"),
        ("a cap past its range", ("  max_open: 4", "  max_open: 5"), "out of range"),
    ],
)
def test_bad_review_settings_are_refused(case, edit, message):
    with pytest.raises(PolicyError, match=message):
        load_policy(POLICY_TEXT.replace(*edit))
