"""Lifting (CONTRACT §9): ending what earlier decisions imposed, unless another keeps it.

A restriction in the state is the longest of those imposed on the creator; the creator's
enforcements say which decision imposed which part. Ending some of them recomputes the
restriction from the others still standing: it is lifted (a lifting action naming what it
ends) only when none is left, else it runs to the longest remaining `until`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from pipeline.domain.events import SURFACES
from pipeline.domain.rules.context import Context
from pipeline.domain.state import Imposed, Until, in_force, later

_REASONS: Final = {
    "lift_ban": "The ban is lifted",
    "lift_recommendation_limit": "The recommendation limit is lifted",
    "restore_commerce": "Selling permission is restored",
}


def active(ctx: Context, a: Imposed, surface: str | None = None) -> bool:
    """Whether the restriction of one imposed action is in force at the event's time."""
    if a.while_qualified is not None:
        tied = ctx.state.restrictions.commerce_revoked_while_qualified
        on = a.surfaces if surface is None else (surface,)
        held = any(tied.get(s) == a.while_qualified for s in on)
        return held and ctx.qualified(a.while_qualified)
    return in_force(a.until, ctx.ts)


def _keepers(ctx: Context, action: str, surface: str | None, ending: set[str]) -> list[Imposed]:
    """The other standing decisions' actions that keep the same restriction in force."""
    out = []
    for e in ctx.state.enforcements.values():
        if e.overturned:
            continue
        for a in e.actions:
            if a.action != action or a.action_id in ending or a.action_id in e.lifted:
                continue
            if surface is not None and surface not in a.surfaces:
                continue
            if active(ctx, a, surface):
                out.append(a)
    return out


def _longest(untils: Iterable[Until | None]) -> Until | None:
    out: Until | None = None
    for u in untils:
        out = later(out, u)
    return out


def end(ctx: Context, rule_id: str, severity: str, why: str, ending: list[Imposed]) -> list[str]:
    """End these imposed actions' restrictions; returns the action ids lifted."""
    ids = {a.action_id for a in ending}
    lifted: list[str] = []
    for action, lift, field in (
        ("ban_account", "lift_ban", "banned_until"),
        ("limit_recommendation", "lift_recommendation_limit", "recommendation_limited_until"),
    ):
        enders = [a for a in ending if a.action == action and active(ctx, a)]
        if not enders:
            continue
        keep = _keepers(ctx, action, None, ids)
        until = _longest(a.until for a in keep)
        r = ctx.state.restrictions
        ctx.state.restrictions = msgspec.structs.replace(r, **{field: until})
        if not keep:
            lifts = tuple(a.action_id for a in enders)
            ctx.add(rule_id, lift, severity, f"{_REASONS[lift]}: {why}.", lifts=lifts)
            lifted.extend(lifts)
    lifted.extend(_restore_commerce(ctx, rule_id, severity, why, ending, ids))
    return lifted


def _restore_commerce(
    ctx: Context, rule_id: str, severity: str, why: str, ending: list[Imposed], ids: set[str]
) -> list[str]:
    revocations = [a for a in ending if a.action == "revoke_commerce"]
    restored: list[str] = []
    lifts: list[str] = []
    for surface in SURFACES:
        enders = [a for a in revocations if surface in a.surfaces and active(ctx, a, surface)]
        if not enders:
            continue
        keep = _keepers(ctx, "revoke_commerce", surface, ids)
        timed = _longest(a.until for a in keep if a.while_qualified is None)
        tied = next((a.while_qualified for a in keep if a.while_qualified is not None), None)
        r = ctx.state.restrictions
        revoked = dict(r.commerce_revoked)
        held = dict(r.commerce_revoked_while_qualified)
        if timed is None:
            revoked.pop(surface, None)
        else:
            revoked[surface] = timed
        if tied is None:
            held.pop(surface, None)
        else:
            held[surface] = tied
        ctx.state.restrictions = msgspec.structs.replace(
            r, commerce_revoked=revoked, commerce_revoked_while_qualified=held
        )
        if not keep:
            restored.append(surface)
            lifts.extend(a.action_id for a in enders if a.action_id not in lifts)
    if restored:
        ctx.add(
            rule_id, "restore_commerce", severity,
            f"{_REASONS['restore_commerce']} on {', '.join(restored)}: {why}.",
            surfaces=tuple(restored), lifts=tuple(lifts),
        )  # fmt: skip
    return lifts


def mark_lifted(ctx: Context, lifted: Iterable[str]) -> None:
    """Remember in each enforcement which of its actions are ended (they keep nothing)."""
    done = set(lifted)
    if not done:
        return
    items = ctx.state.enforcements
    for trigger, e in list(items.items()):
        mine = tuple(a.action_id for a in e.actions if a.action_id in done)
        if mine:
            items[trigger] = msgspec.structs.replace(e, lifted=(*e.lifted, *mine))
