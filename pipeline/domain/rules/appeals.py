"""Appeals: filing (decided allow), appeal.upheld and appeal.overturned (CONTRACT §9)."""

from __future__ import annotations

from typing import Final

import msgspec

from pipeline.domain import credit
from pipeline.domain.events import AppealDecided, AppealFiled
from pipeline.domain.queue import OVER_CAP, appeal_item
from pipeline.domain.rules import lifting
from pipeline.domain.rules.context import Context
from pipeline.domain.state import AppealItem, Enforcement, oldest

UPHELD: Final = "appeal.upheld"
OVERTURNED: Final = "appeal.overturned"


def on_appeal_filed(ctx: Context, ev: AppealFiled) -> None:
    state = ctx.state
    if ev.appeal_id in state.appeals or ev.appeal_id in state.closed:
        return  # the same appeal filed again: nothing new
    found = _find(state.enforcements, ev.action_id)
    window = ctx.policy.appeal_window_ms
    if found is None:
        ctx.reject(
            "unknown_reference",
            f"action_id {ev.action_id[:80]!r} is no enforcing action of creator "
            f"{ev.creator_id!r} decided within the appeal window of "
            f"{window // 86_400_000} days (warn and flag_for_review cannot be appealed)",
        )
        return
    enforcement, rule_id = found
    earlier = _decided_appeal(enforcement, ev.action_id)
    if earlier is not None:
        ctx.reject("already_decided", earlier)
        return
    # The window runs from when the action was decided to when the appeal reached the
    # broker (moderation.reviews uses LogAppendTime): facts the creator cannot set. An
    # appeal dated before the action's own event cannot be about it either.
    days = window // 86_400_000
    if ev.ts < enforcement.event_ts:
        ctx.reject(
            "unknown_reference",
            f"action_id {ev.action_id[:80]!r} was triggered at {enforcement.event_ts}, after the "
            f"appeal's ts {ev.ts}: outside the appeal window of {days} days",
        )
        return
    if ctx.record_ts - enforcement.decided_at > window:
        late = (ctx.record_ts - enforcement.decided_at) // 86_400_000
        ctx.reject(
            "unknown_reference",
            f"action_id {ev.action_id[:80]!r} was decided {late} days before the appeal "
            f"reached LiveGate, outside the appeal window of {days} days",
        )
        return
    item = AppealItem(
        appeal_id=ev.appeal_id, action_id=ev.action_id, rule_id=rule_id,
        trigger=enforcement.trigger, opened_at=ev.ts, statement=ev.statement,
    )  # fmt: skip
    state.appeals[item.appeal_id] = item
    while len(state.appeals) > ctx.policy.max_open_appeals:  # bounded: the oldest goes
        old = state.appeals.pop(oldest(state.appeals, lambda a: a.opened_at))
        state.closed[old.appeal_id] = ev.ts
        closing = (None, None, OVER_CAP, ev.ts)
        ctx.queue.append(appeal_item(old, ev.creator_id, ctx.platform, closing))
    ctx.queue.append(appeal_item(item, ev.creator_id, ctx.platform, None))


def _decided_appeal(e: Enforcement, action_id: str) -> str | None:
    """Why the action cannot be appealed again, naming the earlier verdict; else None."""
    for done_action, appeal_id, verdict in e.verdicts:
        if done_action == action_id or verdict == "overturn":
            what = "overturned" if verdict == "overturn" else "upheld"
            return (
                f"action_id {action_id[:80]!r}: appeal {appeal_id!r} of this decision was already "
                f"decided ({what}); an action is appealed once"
            )
    if e.overturned:
        return f"action_id {action_id[:80]!r}: its decision was already overturned on appeal"
    return None


def _find(enforcements: dict[str, Enforcement], action_id: str) -> tuple[Enforcement, str] | None:
    for e in enforcements.values():
        for a in e.actions:
            if a.action_id == action_id:
                return e, a.rule_id
    return None


def on_appeal_decided(ctx: Context, ev: AppealDecided) -> None:
    state = ctx.state
    item = state.appeals.pop(ev.appeal_id, None)
    if item is None:
        if ev.appeal_id not in state.closed:
            ctx.reject(
                "unknown_reference",
                f"appeal_id {ev.appeal_id!r} is no appeal of creator {ev.creator_id!r}: "
                "no open or recently closed appeal has that id",
            )
        return  # a later verdict on a closed appeal changes nothing
    state.closed[item.appeal_id] = ev.ts
    closed = (ev.verdict, ev.reviewer_id, ev.note, ev.ts)
    ctx.queue.append(appeal_item(item, ev.creator_id, ctx.platform, closed))
    e = state.enforcements.get(item.trigger)
    if e is not None:
        done = (*e.verdicts, (item.action_id, item.appeal_id, ev.verdict))
        state.enforcements[e.trigger] = msgspec.structs.replace(e, verdicts=done)
    if ev.verdict == "overturn":
        _overturn(ctx, item, ev)


def _overturn(ctx: Context, item: AppealItem, ev: AppealDecided) -> None:
    """Reverse the whole decision that emitted the appealed action."""
    state = ctx.state
    e = state.enforcements.get(item.trigger)
    if e is None or e.overturned:
        return  # already reversed (another appeal of the same decision)
    rule = ctx.policy.rules[OVERTURNED]
    ctx.evidence = (ev.event_id, e.trigger)
    why = f"reviewer {ev.reviewer_id} overturned the decision on appeal {item.appeal_id}"
    state.enforcements[e.trigger] = e = msgspec.structs.replace(e, overturned=True)
    lifted: list[str] = []
    if e.points and e.deduct_rule is not None:
        deduction = next(a for a in e.actions if a.action == "deduct_credit")
        given, after = credit.restore(state, e.points, ctx.ts, ctx.policy)
        others = [
            o.event_ts for o in state.enforcements.values()
            if o.deduct_rule == e.deduct_rule and not o.overturned
        ]  # fmt: skip
        credit.forget_deduction(state, e.deduct_rule, e.event_ts, others)
        ctx.add(
            rule.rule_id, "restore_credit", rule.severity,
            f"Credit points are given back ({after - given} to {after}): {why}.",
            points=given, credit_after=after, lifts=(deduction.action_id,),
        )  # fmt: skip
        lifted.append(deduction.action_id)
    lifted.extend(lifting.end(ctx, rule.rule_id, rule.severity, why, list(e.actions)))
    state.enforcements[e.trigger] = msgspec.structs.replace(e, lifted=(*e.lifted, *lifted))
