"""decide(): the pure decision function. Decisions are data: actions plus the new state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from pipeline.domain.actions import Action, outcome_of
from pipeline.domain.certifications import CertSnapshot, snapshot_to_builtins
from pipeline.domain.events import (
    CertificationGranted,
    CertificationRevoked,
    Event,
    ExpiryDue,
    ProductLinked,
    ProductUnlinked,
    Report,
    StreamEnded,
    StreamStarted,
    StreamUpdated,
)
from pipeline.domain.expiries import Expiry
from pipeline.domain.policy import Policy
from pipeline.domain.rules import certification, commerce, live, reports
from pipeline.domain.rules.context import Context
from pipeline.domain.state import (
    CreatorState,
    Source,
    bound_state,
    forget_idle,
    mark_offset,
    remember,
    seen_offset,
    state_view,
    working_copy,
)


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    outcome: str  # allow | review | enforce
    actions: list[Action]
    rule_ids: list[str]  # sorted, unique
    new_state: CreatorState  # with this event_id remembered
    state_before: dict[str, Any]  # state_view of what the decision read
    certifications: dict[str, Any]  # the snapshot used, as JSON types
    expiries: list[Expiry]  # qualifications in use by live streams: schedule expiry_due
    # Streams live before this decision and not after (ended, cut off, forgotten, dropped
    # at the cap): their scheduled expiry checks can go.
    cancelled_expiries: list[str] = []


def _nothing(ctx: Context, ev: Any) -> None:
    """product_unlinked: no rule looks at it; it is still decided (and deduplicated)."""


_HANDLERS: Final[dict[type, Callable[[Context, Any], None]]] = {
    StreamStarted: live.on_stream,
    StreamUpdated: live.on_stream,
    StreamEnded: live.on_stream_ended,
    ProductLinked: commerce.on_product_linked,
    ProductUnlinked: _nothing,
    Report: reports.on_report,
    CertificationGranted: certification.on_granted,
    CertificationRevoked: certification.on_lapse,
    ExpiryDue: certification.on_lapse,
}


def decide(
    event: Event,
    certs: CertSnapshot,
    state: CreatorState | None,
    policy: Policy,
    now_ms: int,
    source: Source | None = None,
) -> Decision | None:
    """Decide one event; None when it was already decided for this creator: its record's
    place (`source`, a redelivery) or its event_id (a producer retry, a replay)."""
    if state is None:
        state = CreatorState.new(policy)
    elif event.event_id in state.decided or (source is not None and seen_offset(state, source)):
        return None
    work = working_copy(state)
    forget_idle(work, event.ts, policy)
    before = state_view(work)
    ctx = Context(event, certs, work, policy, now_ms)
    _HANDLERS[type(event)](ctx, event)
    bound_state(work, policy.caps)
    remember(work, event.event_id, event.ts, policy)
    if source is not None:
        mark_offset(work, source)
    actions = ctx.actions
    gone = no_longer_live(state, work)
    return Decision(
        outcome=outcome_of(actions),
        actions=actions,
        rule_ids=sorted({a.rule_id for a in actions}),
        new_state=work,
        state_before=before,
        certifications=snapshot_to_builtins(certs),
        expiries=ctx.expiries,
        cancelled_expiries=gone,
    )


def no_longer_live(before: CreatorState, after: CreatorState) -> list[str]:
    """Stream ids live in `before` and not in `after` (the schedule drops their checks)."""
    return [sid for sid in before.streams if sid not in after.streams]
