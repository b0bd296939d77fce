"""Exemptions (CONTRACT §10): a person switches a rule (or every rule) to shadow for one
creator until a time. Granting and revoking are decided `allow`: they change which rules act
on the creator's later events, not anything in force."""

from __future__ import annotations

from pipeline.domain.events import ExemptionGranted, ExemptionRevoked
from pipeline.domain.rules.context import Context
from pipeline.domain.state import Exemption, oldest

# Characters of the reason kept in the state (its whole text is in the granting decision's
# record): the state's worst case stays far under a decision record's 256 KB.
REASON_KEPT = 200


def on_granted(ctx: Context, ev: ExemptionGranted) -> None:
    policy = ctx.policy
    if ev.rule_id is not None and ev.rule_id not in policy.rules:
        ctx.reject("unknown_reference", f"rule_id {ev.rule_id[:80]!r} is no rule of policy "
                   f"{policy.version}")  # fmt: skip
        return
    if not ev.ts < ev.until <= ev.ts + policy.exemption_max_ms:
        days = policy.exemption_max_ms // 86_400_000
        ctx.reject("schema", f"`until` must be after the event's ts and at most {days} days "
                   "after it (policy exemptions.max_days)")  # fmt: skip
        return
    items = ctx.state.exemptions
    items[ev.exemption_id] = Exemption(
        rule_id=ev.rule_id, until=ev.until, granted_ts=ev.ts, reason=ev.reason[:REASON_KEPT],
        granted_by=ev.granted_by,
    )  # fmt: skip
    while len(items) > policy.max_exemptions:  # bounded: the one ending first goes
        del items[oldest(items, lambda e: e.until)]


def on_revoked(ctx: Context, ev: ExemptionRevoked) -> None:
    items = ctx.state.exemptions
    found = items.get(ev.exemption_id)
    if found is None:
        ctx.reject("unknown_reference", f"exemption_id {ev.exemption_id!r} is no exemption of "
                   f"creator {ev.creator_id!r}")  # fmt: skip
        return
    # Revoked early: the rule acts again from the revocation's ts (events before it, decided
    # late, are still covered).
    if ev.ts < found.until:
        items[ev.exemption_id] = Exemption(
            rule_id=found.rule_id, until=max(ev.ts, found.granted_ts), granted_ts=found.granted_ts,
            reason=found.reason, granted_by=found.granted_by,
        )  # fmt: skip
