"""Actions of CONTRACT §4, as written to `enforcement.actions`."""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

_REVIEW_ONLY: Final = frozenset({"warn", "flag_for_review"})


class Action(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    action_id: str
    action: str
    creator_id: str
    platform: str
    rule_id: str
    severity: str
    reason: str
    evidence: tuple[str, ...]
    policy_version: str
    event_ts: int
    decided_at: int
    stream_id: str | None = None
    link_id: str | None = None
    product_id: str | None = None
    surfaces: tuple[str, ...] | None = None
    # UNSET (left out) for actions without a duration; None (null) means permanent.
    duration_s: int | msgspec.UnsetType | None = msgspec.UNSET
    points: int | None = None
    credit_after: int | None = None


def action_id(rule_id: str, action: str, creator_id: str, subject: str, trigger: str) -> str:
    """Same rule, action, subject and trigger always give the same id (consumers dedup on it)."""
    joined = "\x1f".join((rule_id, action, creator_id, subject, trigger))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


_ENCODER: Final = msgspec.json.Encoder()


def encode_action(action: Action) -> bytes:
    return _ENCODER.encode(action)


def outcome_of(actions: list[Action]) -> str:
    if not actions:
        return "allow"
    if all(a.action in _REVIEW_ONLY for a in actions):
        return "review"
    return "enforce"
