"""certification.lapsed_live: a qualification revoked or expired while a stream uses it."""

from __future__ import annotations

from typing import Final

from pipeline.domain.events import CertificationGranted, CertificationRevoked, ExpiryDue
from pipeline.domain.rules.context import Context

LAPSED_LIVE: Final = "certification.lapsed_live"


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
        ctx.fire(rule, rule.actions, why, stream_id=sid)


def _watch(ctx: Context, domain: str) -> None:
    for sid, info in ctx.state.streams.items():
        if info.domain == domain:
            ctx.watch_expiry(domain, sid)
