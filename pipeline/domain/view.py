"""The creator view: what trust-and-safety staff see of one creator, as plain JSON types."""

from __future__ import annotations

from typing import Any

import msgspec

from pipeline.domain import notices
from pipeline.domain.audit import decision_id
from pipeline.domain.certifications import CertSnapshot, is_qualified
from pipeline.domain.credit import effective_credit
from pipeline.domain.policy import Policy
from pipeline.domain.state import (
    PERMANENT,
    RESTRICTING,
    CreatorState,
    Enforcement,
    Imposed,
    in_force,
)


class Standing(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The creator's whole standing, as written to `enforcement.restrictions` (CONTRACT §9).

    `banned_until` and `recommendation_limited_until` are null when not in force and
    "permanent" for a restriction without end; `commerce_revoked` maps a revoked surface to
    its `until`, null (permanent) or "while_qualified"."""

    creator_id: str
    platform: str
    credit: int
    banned_until: int | str | None
    recommendation_limited_until: int | str | None
    commerce_revoked: dict[str, int | str | None]
    updated_at: int
    decided_at: int
    policy_version: str


def commerce_in_force(state: CreatorState, certs: CertSnapshot, t: int) -> dict[str, Any]:
    """Revoked surfaces at t -> until (null: permanent, "while_qualified")."""
    r = state.restrictions
    revoked: dict[str, Any] = {
        s: None if u == PERMANENT else u for s, u in r.commerce_revoked.items() if in_force(u, t)
    }
    for surface, domain in r.commerce_revoked_while_qualified.items():
        if is_qualified(certs, domain, t):
            revoked.setdefault(surface, "while_qualified")
    return dict(sorted(revoked.items()))


def standing(
    creator_id: str, platform: str, state: CreatorState, certs: CertSnapshot, policy: Policy,
    at: int, decided_at: int,
) -> Standing:  # fmt: skip
    r = state.restrictions
    return Standing(
        creator_id=creator_id, platform=platform,
        credit=effective_credit(state, at, policy),
        banned_until=r.banned_until if in_force(r.banned_until, at) else None,
        recommendation_limited_until=(
            r.recommendation_limited_until if in_force(r.recommendation_limited_until, at)
            else None
        ),
        commerce_revoked=commerce_in_force(state, certs, at),
        updated_at=at, decided_at=decided_at, policy_version=policy.version,
    )  # fmt: skip


def creator_view(
    creator_id: str, state: CreatorState, certs: CertSnapshot, policy: Policy, now_ms: int
) -> dict[str, Any]:
    """`policy`: the version's base; the creator's platform's merged policy is its scheme."""
    policy = policy.for_platform(state.platform)
    r = state.restrictions
    revoked = commerce_in_force(state, certs, now_ms)
    restrictions: dict[str, Any] = {"commerce_revoked": revoked}
    if in_force(r.banned_until, now_ms):
        restrictions["banned_until"] = r.banned_until
    if in_force(r.recommendation_limited_until, now_ms):
        restrictions["recommendation_limited_until"] = r.recommendation_limited_until
    return {
        "creator_id": creator_id,
        # v3 (CONTRACT §11): the creator's platform (null: a state from before v3).
        "platform": state.platform,
        "credit": effective_credit(state, now_ms, policy),
        "credit_max": policy.credit.max,
        "last_deduction_ts": state.last_deduction_ts,
        "strikes": dict(state.rule_deductions),
        "live_streams": msgspec.to_builtins(state.streams),
        "restrictions": restrictions,
        "certifications": {
            domain: {**msgspec.to_builtins(cert), "qualified": is_qualified(certs, domain, now_ms)}
            for domain, cert in certs.items()
        },
        "in_force": _with_notices(
            restrictions_explained(creator_id, state, certs, now_ms), creator_id, state, policy
        ),
        "deductions": _with_notices(
            deductions_explained(creator_id, state), creator_id, state, policy
        ),
        "open_reviews": [msgspec.to_builtins(i) for i in reversed(state.reviews.values())],
        "open_appeals": [msgspec.to_builtins(i) for i in reversed(state.appeals.values())],
        "exemptions": exemptions_explained(state, now_ms),
        "policy_version": policy.version,
        "as_of": now_ms,
    }


def _with_notices(
    items: list[dict[str, Any]], creator_id: str, state: CreatorState, policy: Policy
) -> list[dict[str, Any]]:
    """Each item with the notice its action carried (CONTRACT §11), rendered again from what
    the state keeps of it: the same template, values and event time give the same text."""
    if policy.notices is None:
        return items
    found = {a.action_id: (e, a) for e in state.enforcements.values() for a in e.actions}
    platform = state.platform or policy.platform
    for item in items:
        hit = found.get(item.get("action_id", ""))
        if hit is not None:
            item["notice"] = imposed_notice(policy, creator_id, platform, *hit)
    return items


def imposed_notice(
    policy: Policy, creator_id: str, platform: str, e: Enforcement, a: Imposed
) -> dict[str, str]:
    assert policy.notices is not None
    values: dict[str, Any] = {
        "creator_id": creator_id, "platform": platform, "stream_id": a.stream_id,
        "link_id": a.link_id, "domain": a.domain, "points": a.points,
        "credit_after": a.credit_after, "while_qualified": a.while_qualified,
        "event_ts": e.event_ts,
    }  # fmt: skip
    if a.action in RESTRICTING and a.while_qualified is None:
        values["until"] = None if a.until == PERMANENT else a.until
    return notices.render(policy.notices, a.rule_id, a.action, values, policy.appeal_window_ms)


def _imposed_by(creator_id: str, e: Enforcement, a: Imposed) -> dict[str, Any]:
    """One action and the decision that imposed it (what `livegate explain` prints)."""
    out: dict[str, Any] = {
        "action": a.action, "action_id": a.action_id, "rule_id": a.rule_id,
        "reason": a.reason, "evidence": list(e.evidence), "event_ts": e.event_ts,
        "decided_at": e.decided_at, "decision_id": decision_id(creator_id, e.trigger),
    }  # fmt: skip
    if a.surfaces:
        out["surfaces"] = list(a.surfaces)
    if a.action in RESTRICTING:
        out["until"] = "while_qualified" if a.while_qualified else a.until
    return out


def restrictions_explained(
    creator_id: str, state: CreatorState, certs: CertSnapshot, t: int
) -> list[dict[str, Any]]:
    """Each restricting action still in force at t with its decision, newest first."""
    r = state.restrictions
    out = []
    for e in reversed(state.enforcements.values()):
        if e.overturned:
            continue
        for a in e.actions:
            if a.action_id in e.lifted:
                continue
            if a.while_qualified is not None:
                tied = r.commerce_revoked_while_qualified
                held = any(tied.get(s) == a.while_qualified for s in a.surfaces)
                if not (held and is_qualified(certs, a.while_qualified, t)):
                    continue
            elif a.action not in RESTRICTING or not in_force(a.until, t):
                continue
            out.append(_imposed_by(creator_id, e, a))
    return out


def deductions_explained(creator_id: str, state: CreatorState) -> list[dict[str, Any]]:
    """The standing (not overturned) deductions the state remembers, newest first."""
    out = []
    for e in reversed(state.enforcements.values()):
        if e.overturned or not e.points:
            continue
        for a in e.actions:
            if a.action == "deduct_credit":
                out.append({**_imposed_by(creator_id, e, a), "points": e.points})
    return out


def exemptions_explained(state: CreatorState, t: int) -> list[dict[str, Any]]:
    """The creator's exemptions (CONTRACT §10), the one ending last first; `in_force` at t."""
    out = []
    for exemption_id, e in sorted(state.exemptions.items(), key=lambda kv: -kv[1].until):
        out.append({
            "exemption_id": exemption_id, "rule_id": e.rule_id, "until": e.until,
            "granted_ts": e.granted_ts, "granted_by": e.granted_by, "reason": e.reason,
            "in_force": e.granted_ts <= t < e.until,
        })  # fmt: skip
    return out
