"""Verdict events for `moderation.reviews` (CONTRACT §2, §9), built from a queue item and
a reviewer's choice. Pure: the id of the reviewer and the time come in as arguments."""

from __future__ import annotations

import re
import secrets
from typing import Any

from pipeline.console.queue import is_open, item_id
from pipeline.domain.errors import LiveGateError
from pipeline.domain.signing import ROLES

VERDICTS = {"review": ("confirm", "dismiss"), "appeal": ("uphold", "overturn")}
EVENT_TYPES = {"review": "review_decided", "appeal": "appeal_decided"}
# Verdicts that undo or clear something need the reviewer's reason in words.
NOTE_REQUIRED = frozenset({"dismiss", "overturn"})
MAX_NOTE = 2000


class VerdictRefused(LiveGateError):
    """A verdict the console will not send; `code` says why, the message says it in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_VERDICT_ID = re.compile(r"console:[0-9a-f]{40}")


def new_verdict_id() -> str:
    """160 random bits, made when the form is shown and kept in it: a resubmitted form is
    the same event to the pipeline (decided once), and nobody can write an event that takes
    a reviewer's id before the reviewer does (a derived id could be computed in advance)."""
    return f"console:{secrets.token_hex(20)}"


def valid_verdict_id(event_id: str) -> bool:
    return _VERDICT_ID.fullmatch(event_id) is not None


def build_verdict(
    item: dict[str, Any], verdict: str, reviewer_id: str, note: str, now_ms: int, event_id: str,
    role: str = "senior",
) -> tuple[bytes, dict[str, Any]]:  # fmt: skip
    """(record key, event) for a verdict on an open queue item, or VerdictRefused.
    `event_id` is the form's (`new_verdict_id`); `role` the reviewer's (the users file),
    carried in the event, which the console then signs (CONTRACT §12)."""
    kind = item.get("kind")
    if kind not in VERDICTS:
        raise VerdictRefused("bad_item", f"item of unknown kind {kind!r}")
    if EVENT_TYPES[kind] not in ROLES.get(role, ()):
        raise VerdictRefused("role", f"a {role} may not decide {kind}s: nothing was sent")
    name = item_id(item)
    if not is_open(item):
        by = f" ({item.get('verdict')} by {item.get('reviewer_id')})" if item.get("verdict") else ""
        raise VerdictRefused("stale", f"this {kind} was closed meanwhile{by}: nothing was sent")
    if verdict not in VERDICTS[kind]:
        allowed = " or ".join(VERDICTS[kind])
        raise VerdictRefused("bad_verdict", f"a {kind} takes {allowed}, not {verdict!r}")
    text = note.strip()
    if verdict in NOTE_REQUIRED and not text:
        raise VerdictRefused("note_required", f"{verdict} needs a note saying why")
    if len(text) > MAX_NOTE:
        raise VerdictRefused(
            "note_too_long", f"the note is {len(text)} characters; at most {MAX_NOTE}"
        )
    if not valid_verdict_id(event_id):
        raise VerdictRefused("bad_form", "the form has no valid verdict id: reload the page")
    creator = str(item.get("creator_id") or "")
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": EVENT_TYPES[kind],
        "ts": now_ms,
        "creator_id": creator,
        f"{kind}_id": name,
        "verdict": verdict,
        "reviewer_id": reviewer_id,
        "role": role,
    }
    if item.get("platform"):
        event["platform"] = item["platform"]
    if text:
        event["note"] = text
    return creator.encode("utf-8"), event
