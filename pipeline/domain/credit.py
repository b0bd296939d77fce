"""Credit points: deductions with repeat escalation, threshold crossings, derived recovery."""

from __future__ import annotations

import msgspec

from pipeline.domain.policy import SEVERITIES, Policy, RecoveryTier, Severity, Threshold
from pipeline.domain.state import CreatorState


class Deduction(msgspec.Struct, frozen=True, gc=False):
    severity: Severity
    points: int
    credit_before: int
    credit_after: int
    crossed: tuple[Threshold, ...]  # thresholds this deduction went through, in policy order


def effective_credit(state: CreatorState, t: int, policy: Policy) -> int:
    """Credit at event time t: recovery is derived from time, never stored."""
    c = policy.credit
    last = state.last_deduction_ts
    if last is None or t <= last:
        return min(c.max, state.credit)
    return recovered(state.credit, t - last, policy)


def recovered(credit: int, clean_ms: int, policy: Policy) -> int:
    """Credit after `clean_ms` without a deduction (CONTRACT §11's tiers): each point costs
    the clean time of the tier the credit is in when it is earned, so a creator below a
    tier's floor recovers at the lower tier's pace until the floor is reached."""
    c = policy.credit
    tiers = c.recovery_tiers or (RecoveryTier(0, c.recovery_every_ms, c.recovery_points),)
    if len(tiers) == 1:  # the flat scheme: closed form
        tier = tiers[0]
        return min(c.max, credit + (clean_ms // tier.every_ms) * tier.points)
    while credit < c.max:
        tier = next(t for t in tiers if credit >= t.at_or_above)
        if clean_ms < tier.every_ms:
            break
        clean_ms -= tier.every_ms
        credit = min(c.max, credit + tier.points)
    return min(c.max, credit)


def escalated(
    state: CreatorState, rule_id: str, severity: Severity, t: int, policy: Policy
) -> Severity:
    """One level higher when the same rule deducted within the repeat window."""
    last = state.rule_deductions.get(rule_id)
    if last is None or abs(t - last) >= policy.credit.repeat_window_ms:
        return severity
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def deduct(
    state: CreatorState, rule_id: str, severity: Severity, t: int, policy: Policy
) -> Deduction:
    """Deduct for `rule_id` at t, updating the state; the caller emits the actions."""
    level = escalated(state, rule_id, severity, t, policy)
    points = policy.credit.deductions[level]
    before = effective_credit(state, t, policy)
    after = max(0, before - points)
    state.credit = after
    # max(): a late, older event must not move the recovery clock back.
    last = state.last_deduction_ts
    state.last_deduction_ts = t if last is None else max(last, t)
    state.rule_deductions[rule_id] = max(state.rule_deductions.get(rule_id, t), t)
    crossed = tuple(th for th in policy.credit.thresholds if before > th.at_or_below >= after)
    return Deduction(level, points, before, after, crossed)


def restore(state: CreatorState, points: int, t: int, policy: Policy) -> tuple[int, int]:
    """Give back `points` at t (an overturned deduction), capped at the maximum.

    Returns (points actually given back, credit after). Recovery stays derived: the
    stored credit grows by the points, so credit at t is what it would have been had the
    deduction taken nothing (up to the maximum)."""
    before = effective_credit(state, t, policy)
    state.credit = min(policy.credit.max, state.credit + points)
    after = effective_credit(state, t, policy)
    return after - before, after


def forget_deduction(state: CreatorState, rule_id: str, ts: int, others: list[int]) -> None:
    """An overturned deduction (made at ts) no longer counts for repeat escalation: the
    rule's last deduction becomes the latest of `others` (its other standing deductions)."""
    if state.rule_deductions.get(rule_id) != ts:
        return  # a later deduction of the rule governs escalation anyway
    if others:
        state.rule_deductions[rule_id] = max(others)
    else:
        del state.rule_deductions[rule_id]
