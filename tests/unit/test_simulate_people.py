"""The simulated people in the loop: verdicts on flags, appeals of enforcements and their
verdicts, after a delay, only for the run's own creators, one appeal per decision."""

from pipeline.adapters.settings import Settings
from pipeline.domain.signing import check_signature
from pipeline.ops.simulate import People

C = "sim-run1-00001"


def action(name, aid, creator=C, evidence=("e1",)):
    return {"action": name, "action_id": aid, "creator_id": creator, "evidence": list(evidence)}


def test_flags_get_verdicts_and_enforcements_appeals_then_verdicts():
    people = People("run1", delay_ms=1_000, review_share=1.0, appeal_share=1.0)
    people.observe(action("flag_for_review", "f1"), 0)
    people.observe(action("cut_off_stream", "c1", evidence=("e2",)), 0)
    people.observe(action("deduct_credit", "d1", evidence=("e2",)), 0)  # same decision
    people.observe(action("warn", "w1", evidence=("e3",)), 0)  # never appealed
    people.observe(action("flag_for_review", "f2", creator="someone-else"), 0)
    assert people.due(400) == []
    first = people.due(2_000)
    kinds = sorted(e["type"] for _, _, e in first)
    assert kinds == ["appeal_filed", "review_decided"]
    review = next(e for _, _, e in first if e["type"] == "review_decided")
    assert review["review_id"] == "f1" and review["verdict"] in ("confirm", "dismiss")
    assert review["ts"] == 2_000 and review["reviewer_id"].startswith("sim-reviewer-")
    filed = next(e for _, _, e in first if e["type"] == "appeal_filed")
    assert filed["action_id"] == "c1"
    (decided,) = [e for _, _, e in people.due(10_000)]
    assert decided["type"] == "appeal_decided" and decided["appeal_id"] == filed["appeal_id"]
    assert decided["verdict"] in ("uphold", "overturn")
    # Verdicts are signed (CONTRACT §12), by roles that may decide them; filings are not.
    keys = Settings().verdict_keys
    assert check_signature(review, keys) is None and check_signature(decided, keys) is None
    assert (review["role"], decided["role"]) == ("reviewer", "senior")
    assert "signature" not in filed
    assert all(kind == "reviews" and creator == C for kind, creator, _ in first)
    ids = [e["event_id"] for _, _, e in first] + [decided["event_id"]]
    assert len(set(ids)) == 3
