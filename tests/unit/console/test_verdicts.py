"""Verdict events built from a queue item: the exact JSON, and what the console refuses."""

from __future__ import annotations

import pytest

from pipeline.console.verdicts import VerdictRefused, build_verdict, new_verdict_id

EID = "console:" + "0" * 40

REVIEW = {"kind": "review", "review_id": "ab12", "creator_id": "c-1", "platform": "douyin",
          "status": "open", "opened_at": 5}  # fmt: skip
APPEAL = {"kind": "appeal", "appeal_id": "ap-9", "action_id": "ff", "creator_id": "c-2",
          "status": "open", "opened_at": 5}  # fmt: skip


def test_a_confirm_is_a_review_decided_event_keyed_by_creator():
    key, event = build_verdict(REVIEW, "confirm", "alice", "  seen it  ", 1_000, EID)
    assert key == b"c-1"
    assert event == {
        "event_id": EID,
        "type": "review_decided",
        "ts": 1_000,
        "creator_id": "c-1",
        "review_id": "ab12",
        "verdict": "confirm",
        "reviewer_id": "alice",
        "role": "senior",
        "platform": "douyin",
        "note": "seen it",
    }
    assert event["event_id"].startswith("console:") and len(event["event_id"]) <= 128


def test_an_overturn_is_an_appeal_decided_event_without_platform_when_none():
    key, event = build_verdict(APPEAL, "overturn", "bob", "wrong domain", 7, EID)
    assert key == b"c-2"
    assert event["type"] == "appeal_decided" and event["appeal_id"] == "ap-9"
    assert "platform" not in event and "review_id" not in event


def test_a_confirm_without_note_has_no_note_field():
    _, event = build_verdict(REVIEW, "confirm", "alice", "   ", 1, EID)
    assert "note" not in event


def test_the_event_id_is_the_forms_so_a_resubmission_is_the_same_event():
    form_id = new_verdict_id()
    a = build_verdict(REVIEW, "confirm", "alice", "x", 1, form_id)[1]["event_id"]
    b = build_verdict(REVIEW, "confirm", "alice", "y", 2, form_id)[1]["event_id"]
    assert a == b == form_id


def test_the_event_id_cannot_be_known_before_the_form_is_shown():
    # Two forms of the same item, verdict and reviewer: nothing about the item, the
    # verdict or the reviewer says what id the next form will carry.
    ids = {new_verdict_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("console:") and len(i) == 48 for i in ids)


@pytest.mark.parametrize("bad", ["", "console:abc", "x" * 48, "console:" + "g" * 40])
def test_a_form_without_a_valid_event_id_sends_nothing(bad):
    with pytest.raises(VerdictRefused) as refused:
        build_verdict(REVIEW, "confirm", "alice", "", 1, bad)
    assert refused.value.code == "bad_form"


@pytest.mark.parametrize(
    ("item", "verdict", "note", "code"),
    [
        (REVIEW, "dismiss", "", "note_required"),
        (REVIEW, "dismiss", " \n ", "note_required"),
        (APPEAL, "overturn", "", "note_required"),
        (REVIEW, "uphold", "x", "bad_verdict"),
        (APPEAL, "confirm", "x", "bad_verdict"),
        (REVIEW, "confirm", "x" * 2001, "note_too_long"),
        ({**REVIEW, "status": "closed", "verdict": "dismiss", "reviewer_id": "bob"}, "confirm",
         "", "stale"),
        ({**REVIEW, "kind": "other"}, "confirm", "", "bad_item"),
    ],
)  # fmt: skip
def test_refused_verdicts_say_why(item, verdict, note, code):
    with pytest.raises(VerdictRefused) as refused:
        build_verdict(item, verdict, "alice", note, 1, EID)
    assert refused.value.code == code
    if code == "stale":
        assert "closed meanwhile (dismiss by bob)" in str(refused.value)


def test_dismiss_and_uphold_with_notes_go_through():
    assert (
        build_verdict(REVIEW, "dismiss", "alice", "not health", 1, EID)[1]["note"] == "not health"
    )
    assert build_verdict(APPEAL, "uphold", "alice", "", 1, EID)[1]["verdict"] == "uphold"


def test_a_reviewer_decides_reviews_only_and_the_role_travels_in_the_event():
    """CONTRACT §12: `reviewer` reviews; `senior` appeals too (the worker checks it again)."""
    with pytest.raises(VerdictRefused) as refused:
        build_verdict(APPEAL, "overturn", "bob", "wrong domain", 7, EID, role="reviewer")
    assert refused.value.code == "role" and "nothing was sent" in str(refused.value)
    _, event = build_verdict(REVIEW, "confirm", "bob", "", 7, EID, role="reviewer")
    assert event["role"] == "reviewer"
    _, event = build_verdict(APPEAL, "uphold", "ann", "", 7, EID, role="senior")
    assert event["role"] == "senior"
