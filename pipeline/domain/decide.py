"""decide(): the pure decision function. Decisions are data: actions plus the new state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from pipeline.domain.actions import Action, is_appealable, outcome_of
from pipeline.domain.certifications import CertSnapshot, snapshot_to_builtins
from pipeline.domain.credit import effective_credit
from pipeline.domain.errors import LiveGateError
from pipeline.domain.events import (
    AppealDecided,
    AppealFiled,
    CertificationGranted,
    CertificationRevoked,
    Event,
    ExemptionGranted,
    ExemptionRevoked,
    ExpiryDue,
    PolicySweep,
    ProductLinked,
    ProductUnlinked,
    Report,
    ReviewDecided,
    StreamEnded,
    StreamStarted,
    StreamUpdated,
)
from pipeline.domain.expiries import Expiry
from pipeline.domain.platforms import DEFAULT
from pipeline.domain.platformstate import Migration, creator_platform, migrate
from pipeline.domain.policy import Policy
from pipeline.domain.queue import QueueItem, Rejection
from pipeline.domain.rules import (
    appeals,
    certification,
    commerce,
    exemptions,
    live,
    reports,
    reviews,
    sweeps,
)
from pipeline.domain.rules.context import CapCheck, Context, ShadowRule
from pipeline.domain.state import (
    PERMANENT,
    CreatorState,
    Enforcement,
    Imposed,
    Source,
    Until,
    bound_state,
    forget_idle,
    mark_offset,
    oldest,
    remember,
    seen_offset,
    state_from_view,
    state_view,
    working_copy,
)
from pipeline.domain.view import Standing, standing


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
    # v2: review/appeal items opened or closed (enforcement.queue); the creator's standing
    # when the decision changed credit or restrictions (enforcement.restrictions); and a
    # rejection: the event names something the creator never had, so it is not decided
    # (no record, no state change) but is a dead letter with this code and detail.
    queue: list[QueueItem] = []
    standing: Standing | None = None
    rejected: Rejection | None = None
    # v3 (CONTRACT §11): the creator's platform (whose merged policy decided); the platform
    # index this decision adds the creator to (the platform it recorded first, or `default`
    # for a new creator whose event named none: sweeps of `default` find it); and a
    # migration of a state without a platform.
    platform: str = "default"
    indexed: str | None = None
    migration: Migration | None = None
    # v3 (CONTRACT §10): what rules in `shadow` for this event would have done (nothing of
    # it is emitted or kept); the daily caps checked; and `held: "daily_cap"` when a cap's
    # count is past it: then, like a breaker hold, nothing is emitted and no state is kept.
    shadow: list[ShadowRule] = []
    capped: list[CapCheck] = []
    held: str | None = None


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
    ReviewDecided: reviews.on_review_decided,
    AppealFiled: appeals.on_appeal_filed,
    AppealDecided: appeals.on_appeal_decided,
    PolicySweep: sweeps.on_policy_sweep,
    ExemptionGranted: exemptions.on_granted,
    ExemptionRevoked: exemptions.on_revoked,
}


def decide_as_recorded(
    event: Event,
    certs: CertSnapshot,
    state: CreatorState | None,
    recorded_before: dict[str, Any],
    policy: Policy,
    now_ms: int,
    source: Source | None = None,
    record_ts: int | None = None,
    cap_counts: dict[str, int] | None = None,
) -> Decision | None:
    """An event whose decision is in the log already, but whose state was never written (a
    crash or a fence in between), decided again with the recorded certifications and time.

    From the same state that gives the recorded decision. The creator's state may have moved
    on meanwhile, though: a worker taking the partitions over can read the creator's other
    topics first. Then the decision emitted is still exactly the recorded one (decided from
    the state it records, `recorded_before`: the same `state_before`, actions and ids,
    CONTRACT v2 §2), and the state kept is this event applied to the state as it is now, so
    the later events' effects stay.
    """
    now = decide(event, certs, state, policy, now_ms, source, record_ts, cap_counts)
    if now is None or now.rejected is not None or now.state_before == recorded_before:
        return now
    try:
        then_state = state_from_view(recorded_before)
    except LiveGateError:
        return now  # a record this version cannot read: the event as decided now
    then = decide(event, certs, then_state, policy, now_ms, source, record_ts, cap_counts)
    if then is None or then.rejected is not None:
        return now
    return msgspec.structs.replace(
        then, new_state=now.new_state, expiries=now.expiries,
        cancelled_expiries=now.cancelled_expiries, standing=now.standing,
    )  # fmt: skip


def decide(
    event: Event,
    certs: CertSnapshot,
    state: CreatorState | None,
    policy: Policy,
    now_ms: int,
    source: Source | None = None,
    record_ts: int | None = None,
    cap_counts: dict[str, int] | None = None,
) -> Decision | None:
    """Decide one event; None when it was already decided for this creator: its record's
    place (`source`, a redelivery) or its event_id (a producer retry, a replay).

    `record_ts` is the input record's Kafka timestamp (on `moderation.reviews` the broker's
    append time, which no producer sets): the appeal window runs to it (CONTRACT §12).
    Decisions recorded before v3 have none: their event's `ts` stands in.

    `cap_counts`: for rules with a `daily_cap`, the count of their (rule, platform, UTC day)
    set with this event in it (CONTRACT §10), counted by the caller; a capped rule that
    would enforce without a count is listed in `capped` with `count` None, for the caller
    to count and decide again.

    `policy` is the version's base policy: the creator's platform's merged policy decides
    (CONTRACT §11)."""
    if state is not None and (
        event.event_id in state.decided or (source is not None and seen_offset(state, source))
    ):
        return None
    base = policy
    platform, named, mismatch = creator_platform(event, state)
    policy = base.for_platform(platform)  # its overlay merged, loaded once per version
    # The creator's platform is recorded by the first event naming one (certification
    # changes name none); until then, as in a state from before v3, the base decides.
    recorded = named is not None and (state is None or state.platform is None)
    first = state is None
    if state is None:
        state = CreatorState.new(policy, named)
    if event.platform is None and not isinstance(event, PolicySweep):
        event = msgspec.structs.replace(event, platform=platform)  # the creator's (§2)
    work = working_copy(state)
    forget_idle(work, event.ts, policy)
    before = state_view(work)
    scheme = base if work.platform is None else policy  # no platform yet: the base's scale
    standing_before = (effective_credit(work, event.ts, scheme), work.restrictions)
    migration = migrate(work, base, policy, named) if named is not None else None
    ctx = Context(event, certs, work, policy, now_ms, record_ts, cap_counts, platform)
    if mismatch is not None:
        ctx.rejection = mismatch
    else:
        _HANDLERS[type(event)](ctx, event)
    if ctx.rejection is not None:
        return Decision(
            outcome="allow", actions=[], rule_ids=[], new_state=state, state_before=before,
            certifications=snapshot_to_builtins(certs), expiries=[], rejected=ctx.rejection,
            platform=platform,
        )  # fmt: skip
    bound_state(work, policy.caps)
    _remember_enforcement(ctx)
    remember(work, event.event_id, event.ts, policy)
    if source is not None:
        mark_offset(work, source)
    actions = ctx.actions
    if any(c.count is not None and c.count > c.cap for c in ctx.capped):
        return Decision(
            outcome=outcome_of(actions), actions=actions,
            rule_ids=sorted({a.rule_id for a in actions}), new_state=state, state_before=before,
            certifications=snapshot_to_builtins(certs), expiries=[], shadow=ctx.shadow,
            capped=ctx.capped, held="daily_cap", platform=platform,
        )  # fmt: skip
    gone = no_longer_live(state, work)
    changed = standing_before != (effective_credit(work, event.ts, policy), work.restrictions)
    return Decision(
        outcome=outcome_of(actions),
        actions=actions,
        rule_ids=sorted({a.rule_id for a in actions}),
        new_state=work,
        state_before=before,
        certifications=snapshot_to_builtins(certs),
        expiries=ctx.expiries,
        cancelled_expiries=gone,
        queue=ctx.queue,
        standing=standing(
            event.creator_id, platform, work, certs, policy, event.ts, now_ms
        ) if changed or migration is not None else None,
        shadow=ctx.shadow,
        capped=ctx.capped,
        platform=platform,
        indexed=platform if recorded else DEFAULT if first and platform == DEFAULT else None,
        migration=migration,
    )  # fmt: skip


def _remember_enforcement(ctx: Context) -> None:
    """Keep what an enforcing decision imposed, so an appeal can reverse exactly that."""
    imposed = tuple(
        _imposed(a, ctx.told.get(a.action_id, {})) for a in ctx.actions if is_appealable(a.action)
    )
    if not imposed:
        return
    ev = ctx.event
    items = ctx.state.enforcements
    items[ev.event_id] = Enforcement(
        trigger=ev.event_id, event_ts=ev.ts, decided_at=ctx.now_ms,
        evidence=tuple(dict.fromkeys(e for a in ctx.actions for e in a.evidence)),
        actions=imposed, points=ctx.taken, deduct_rule=ctx.deduct_rule if ctx.taken else None,
    )  # fmt: skip
    while len(items) > ctx.policy.max_enforcements:
        del items[oldest(items, lambda e: e.event_ts)]


def _imposed(a: Action, told: dict[str, Any]) -> Imposed:
    until: Until | None = None
    if a.while_qualified is None and not isinstance(a.until, msgspec.UnsetType):
        until = PERMANENT if a.until is None else a.until
    return Imposed(
        action_id=a.action_id, action=a.action, rule_id=a.rule_id, reason=a.reason,
        until=until, while_qualified=a.while_qualified, surfaces=a.surfaces or (),
        stream_id=a.stream_id, link_id=a.link_id or told.get("link_id"),
        domain=told.get("domain"), points=a.points,
        credit_after=told.get("credit_after", a.credit_after),
    )  # fmt: skip


def no_longer_live(before: CreatorState, after: CreatorState) -> list[str]:
    """Stream ids live in `before` and not in `after` (the schedule drops their checks)."""
    return [sid for sid in before.streams if sid not in after.streams]
