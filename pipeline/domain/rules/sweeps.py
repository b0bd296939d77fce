"""policy_sweep (CONTRACT §11): a rule applied to a creator who has no new event.

Only `commerce.medical_personnel` can be swept: its subject is the creator's qualification,
which the certification table holds, not an event (Douyin's 2022 withdrawal of selling from
every certified medical creator). The sweep imposes the rule's restrictions and its warning;
it removes no link (it names none) and deducts nothing (the creator did nothing new).
A sweep of another platform than the creator's, of a rule that cannot be swept, or of a
creator the rule does not concern, or whose selling is revoked already, changes nothing.
"""

from __future__ import annotations

from typing import Final

from pipeline.domain.events import PolicySweep
from pipeline.domain.rules import restrictions
from pipeline.domain.rules.context import Context

SWEEPABLE: Final = frozenset({"commerce.medical_personnel"})
_SWEPT_ACTIONS: Final = frozenset({"revoke_commerce", "limit_recommendation", "ban_account",
                                   "warn"})  # fmt: skip


def on_policy_sweep(ctx: Context, ev: PolicySweep) -> None:
    if ev.platform != ctx.platform or ev.rule_id not in SWEEPABLE:
        return
    rule = ctx.policy.rules[ev.rule_id]
    if rule.domain is None or not ctx.qualified(rule.domain):
        return
    specs = tuple(s for s in rule.actions if s.name in _SWEPT_ACTIONS)
    revokes = [s for s in specs if s.name == "revoke_commerce"]
    if not revokes or all(
        restrictions.commerce_revoked(ctx, surface) for s in revokes for surface in s.surfaces
    ):
        return  # the platform's rule revokes nothing, or it is revoked already
    why = (
        f"creators qualified as {rule.domain} professionals may not sell goods on any surface"
        f" (sweep {ev.sweep_id} of {ev.rule_id} on {ev.platform})"
    )
    ctx.fire(rule, specs, why, domain=rule.domain)
