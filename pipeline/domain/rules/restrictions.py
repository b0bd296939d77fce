"""restriction.in_force: restrictions imposed earlier, enforced on later events, no deduction."""

from __future__ import annotations

from typing import Final

from pipeline.domain.certifications import is_qualified
from pipeline.domain.events import ProductLinked
from pipeline.domain.policy import ActionSpec
from pipeline.domain.rules.context import Context
from pipeline.domain.state import in_force

RULE_ID: Final = "restriction.in_force"
_CUT: Final = (ActionSpec(name="cut_off_stream"),)
_REMOVE: Final = (ActionSpec(name="remove_product_link"),)


def banned(ctx: Context) -> bool:
    return in_force(ctx.state.restrictions.banned_until, ctx.ts)


def commerce_revoked(ctx: Context, surface: str) -> bool:
    r = ctx.state.restrictions
    if in_force(r.commerce_revoked.get(surface), ctx.ts):
        return True
    # The medical-personnel revocation lasts exactly as long as the qualification.
    domain = r.commerce_revoked_while_qualified.get(surface)
    return domain is not None and is_qualified(ctx.certs, domain, ctx.ts)


def cut_off_banned_stream(ctx: Context, stream_id: str) -> bool:
    """A banned creator's new stream is cut off, whatever its category."""
    if not banned(ctx):
        return False
    rule = ctx.policy.rules[RULE_ID]
    ctx.fire(rule, _CUT, "the creator's account is banned", stream_id=stream_id)
    return True


def remove_restricted_link(ctx: Context, ev: ProductLinked) -> bool:
    if banned(ctx):
        why = "the creator's account is banned"
    elif commerce_revoked(ctx, ev.surface):
        why = f"the creator's selling permission on {ev.surface} is revoked"
    else:
        return False
    rule = ctx.policy.rules[RULE_ID]
    ctx.fire(
        rule, _REMOVE, why, stream_id=ev.stream_id, link_id=ev.link_id, product_id=ev.product_id
    )
    return True
