"""commerce.medical_personnel and commerce.unqualified_product, on product_linked."""

from __future__ import annotations

from typing import Final

from pipeline.domain.events import ProductLinked
from pipeline.domain.rules import restrictions
from pipeline.domain.rules.context import Context

MEDICAL_PERSONNEL: Final = "commerce.medical_personnel"
UNQUALIFIED_PRODUCT: Final = "commerce.unqualified_product"


def on_product_linked(ctx: Context, ev: ProductLinked) -> None:
    # Medical personnel first: it deducts from the second link on even though their
    # commerce is already revoked; otherwise a restriction in force is all that applies.
    if _medical_personnel(ctx, ev):
        return
    if restrictions.remove_restricted_link(ctx, ev):
        return
    domain = ctx.policy.product_domain.get(ev.product_category)
    if domain is None or ctx.qualified(domain):
        return
    rule = ctx.policy.rules[UNQUALIFIED_PRODUCT]
    why = (
        f"a `{ev.product_category}` product needs a {domain} qualification"
        " the creator does not hold"
    )
    ctx.fire(
        rule, rule.actions, why,
        stream_id=ev.stream_id, link_id=ev.link_id, product_id=ev.product_id, domain=domain,
    )  # fmt: skip


def _medical_personnel(ctx: Context, ev: ProductLinked) -> bool:
    rule = ctx.policy.rules[MEDICAL_PERSONNEL]
    if rule.domain is None or not ctx.qualified(rule.domain):
        return False
    ctx.state.medical_links += 1
    specs = rule.actions
    if ctx.state.medical_links < rule.deduct_from_link:
        specs = tuple(s for s in specs if s.name != "deduct_credit")
    why = f"creators qualified as {rule.domain} professionals may not sell goods"
    ctx.fire(rule, specs, why, stream_id=ev.stream_id, link_id=ev.link_id, product_id=ev.product_id)
    return True
