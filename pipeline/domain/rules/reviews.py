"""review.confirmed and review.dismissed: a person's verdict on a flag_for_review."""

from __future__ import annotations

from typing import Final

from pipeline.domain.events import ReviewDecided
from pipeline.domain.queue import review_item
from pipeline.domain.rules import lifting
from pipeline.domain.rules.context import Context
from pipeline.domain.state import Imposed, ReviewItem

CONFIRMED: Final = "review.confirmed"
DISMISSED: Final = "review.dismissed"


def on_review_decided(ctx: Context, ev: ReviewDecided) -> None:
    state = ctx.state
    item = state.reviews.pop(ev.review_id, None)
    if item is None:
        if ev.review_id not in state.closed:
            ctx.reject(
                "unknown_reference",
                f"review_id {ev.review_id[:80]!r} is no review item of creator "
                f"{ev.creator_id!r}: no open or recently closed flag_for_review has that id",
            )
        return  # a later verdict on a closed item changes nothing (decided allow)
    state.closed[item.review_id] = ev.ts
    closed = (ev.verdict, ev.reviewer_id, ev.note, ev.ts)
    ctx.queue.append(review_item(item, ev.creator_id, ctx.platform, closed))
    ctx.evidence = (ev.event_id, item.trigger)
    if ev.verdict == "confirm":
        _confirm(ctx, item, ev)
    else:
        _dismiss(ctx, item, ev)


def _confirm(ctx: Context, item: ReviewItem, ev: ReviewDecided) -> None:
    rule = ctx.policy.rules[CONFIRMED]
    what = f"{item.domain} content" if item.domain else "the flagged conduct"
    why = f"reviewer {ev.reviewer_id} confirmed {what} flagged by {item.rule_id} as a violation"
    ctx.fire(rule, rule.actions, why, stream_id=item.stream_id, domain=item.domain)


def _dismiss(ctx: Context, item: ReviewItem, ev: ReviewDecided) -> None:
    if item.stream_id is not None and item.domain is not None:
        ctx.state.cleared[f"{item.stream_id}\x1f{item.domain}"] = ev.ts
    if item.limit_id is None:
        return
    rule = ctx.policy.rules[DISMISSED]
    limit = Imposed(
        action_id=item.limit_id, action="limit_recommendation", rule_id=item.rule_id,
        reason="", until=item.limit_until,
    )  # fmt: skip
    why = f"reviewer {ev.reviewer_id} found no violation in the case flagged by {item.rule_id}"
    lifting.end(ctx, rule.rule_id, rule.severity, why, [limit])
    lifting.mark_lifted(ctx, [item.limit_id])
