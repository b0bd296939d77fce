"""certification.lapsed_live: a qualification revoked or expired while a stream uses it."""

from __future__ import annotations

from typing import Final

import msgspec

from pipeline.domain.events import SURFACES, CertificationGranted, CertificationRevoked, ExpiryDue
from pipeline.domain.rules import lifting
from pipeline.domain.rules.context import Context
from pipeline.domain.state import in_force

LAPSED_LIVE: Final = "certification.lapsed_live"
MEDICAL_PERSONNEL: Final = "commerce.medical_personnel"


def on_granted(ctx: Context, ev: CertificationGranted) -> None:
    _watch(ctx, ev.domain)


def on_lapse(ctx: Context, ev: CertificationRevoked | ExpiryDue) -> None:
    """Cut off every live stream in D once the creator is no longer qualified for D."""
    domain = ev.domain
    if ctx.qualified(domain):
        _watch(ctx, domain)  # renewed meanwhile: check again when the new one ends
        return
    rule = ctx.policy.rules[LAPSED_LIVE]
    how = "was revoked" if isinstance(ev, CertificationRevoked) else "expired"
    why = f"the creator's {domain} qualification {how} while the stream was live in {domain}"
    for sid in [sid for sid, info in ctx.state.streams.items() if info.domain == domain]:
        ctx.fire(rule, rule.actions, why, stream_id=sid, domain=domain)
    _restore_commerce(ctx, domain, how)


def _restore_commerce(ctx: Context, domain: str, how: str) -> None:
    """A commerce revocation that lasted while qualified for D ends with the qualification:
    restore_commerce, by the rule that imposed it, on the surfaces no other one keeps."""
    r = ctx.state.restrictions
    tied = {s: d for s, d in r.commerce_revoked_while_qualified.items() if d != domain}
    ending = sorted(s for s, d in r.commerce_revoked_while_qualified.items() if d == domain)
    if not ending:
        return
    ctx.state.restrictions = msgspec.structs.replace(r, commerce_revoked_while_qualified=tied)
    restored = tuple(
        s for s in SURFACES if s in ending and s not in tied
        and not in_force(r.commerce_revoked.get(s), ctx.ts)
    )  # fmt: skip
    imposed = [
        a for e in ctx.state.enforcements.values() if not e.overturned
        for a in e.actions if a.while_qualified == domain and a.action_id not in e.lifted
    ]  # fmt: skip
    lifts = tuple(a.action_id for a in imposed)
    lifting.mark_lifted(ctx, lifts)
    if not restored:
        return
    rule = ctx.policy.rules[imposed[0].rule_id if imposed else MEDICAL_PERSONNEL]
    why = (
        f"the creator's {domain} qualification {how}, and the revocation lasted only while"
        f" the creator held it"
    )
    ctx.add(
        rule.rule_id, "restore_commerce", rule.severity,
        f"Selling permission is restored on {', '.join(restored)}: {why}.",
        surfaces=restored, lifts=lifts,
    )  # fmt: skip


def _watch(ctx: Context, domain: str) -> None:
    for sid, info in ctx.state.streams.items():
        if info.domain == domain:
            ctx.watch_expiry(domain, sid)
    tied = ctx.state.restrictions.commerce_revoked_while_qualified
    if domain in tied.values():
        ctx.watch_expiry(domain, None)  # the revocation ends when the qualification does
