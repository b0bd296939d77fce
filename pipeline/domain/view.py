"""The creator view: what trust-and-safety staff see of one creator, as plain JSON types."""

from __future__ import annotations

from typing import Any

import msgspec

from pipeline.domain.certifications import CertSnapshot, is_qualified
from pipeline.domain.credit import effective_credit
from pipeline.domain.policy import Policy
from pipeline.domain.state import CreatorState, in_force


def creator_view(
    creator_id: str, state: CreatorState, certs: CertSnapshot, policy: Policy, now_ms: int
) -> dict[str, Any]:
    r = state.restrictions
    revoked: dict[str, Any] = {s: u for s, u in r.commerce_revoked.items() if in_force(u, now_ms)}
    for surface, domain in r.commerce_revoked_while_qualified.items():
        if is_qualified(certs, domain, now_ms):
            revoked.setdefault(surface, "while_qualified")
    restrictions: dict[str, Any] = {"commerce_revoked": revoked}
    if in_force(r.banned_until, now_ms):
        restrictions["banned_until"] = r.banned_until
    if in_force(r.recommendation_limited_until, now_ms):
        restrictions["recommendation_limited_until"] = r.recommendation_limited_until
    return {
        "creator_id": creator_id,
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
        "policy_version": policy.version,
        "as_of": now_ms,
    }
