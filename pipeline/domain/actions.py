"""Actions of CONTRACT §4, as written to `enforcement.actions`."""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

# Actions that neither restrict nor punish: a decision with only these is a "review".
REVIEW_ONLY: Final = frozenset({"warn", "flag_for_review"})
# v2 (CONTRACT §4, §9): actions that end what an earlier action imposed (`lifts` names it).
LIFTING: Final = frozenset(
    {"lift_ban", "lift_recommendation_limit", "restore_commerce", "restore_credit"}
)


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
    # v2: with duration_s, its absolute end (event_ts + duration); null = permanent or, with
    # `while_qualified` (a domain), for as long as the creator holds that qualification.
    until: int | msgspec.UnsetType | None = msgspec.UNSET
    while_qualified: str | None = None
    lifts: tuple[str, ...] | None = None  # a lifting action: the action_ids it ends
    # v3 (CONTRACT §11): what the creator is told, {"zh-CN": …, "en": …}, from the
    # platform's catalogue (left out under a pre-v3 policy without one).
    notice: dict[str, str] | None = None


def is_enforcing(action: str) -> bool:
    """Whether an action restricts, punishes or lifts (what the circuit breaker counts)."""
    return action not in REVIEW_ONLY


def is_appealable(action: str) -> bool:
    """An action an appeal may name: any that restricts or punishes (CONTRACT §9)."""
    return action not in REVIEW_ONLY and action not in LIFTING


def action_subject(creator_id: str, stream_id: str | None, link_id: str | None) -> str:
    """What an action is about: the link, else the stream, else the creator.

    The one precedence for action ids, shadow agreement and `replay whatif`: a live
    `remove_product_link` carries both a link and a stream, and its subject is the link.
    """
    return link_id or stream_id or creator_id


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
    if not any(is_enforcing(a.action) for a in actions):
        return "review"
    return "enforce"
