"""live.unqualified and live.suspected: judging a stream by its category and title."""

from __future__ import annotations

from typing import Final

import msgspec

from pipeline.domain.events import StreamEnded, StreamStarted, StreamUpdated
from pipeline.domain.policy import ActionSpec, Policy, RuleSpec
from pipeline.domain.rules import restrictions
from pipeline.domain.rules.context import Context
from pipeline.domain.state import MAX_TITLE, StreamInfo

UNQUALIFIED: Final = "live.unqualified"
SUSPECTED: Final = "live.suspected"
# Built in (like restriction.in_force's actions): the policy's `state.live_streams` cap.
STREAM_CAP: Final = RuleSpec(
    rule_id="state.live_stream_cap",
    severity="minor",
    actions=(ActionSpec(name="flag_for_review"),),
)


def on_stream(ctx: Context, ev: StreamStarted | StreamUpdated) -> None:
    state = ctx.state
    sid = ev.stream_id
    old = state.streams.get(sid)
    opens = old is None
    if opens and isinstance(ev, StreamUpdated) and sid in state.ended:
        return  # a late update of a stream that ended or was cut off must not reopen it
    state.ended.pop(sid, None)
    if opens:
        _make_room(ctx, sid)
    state.streams[sid] = _info(ctx.policy, old, ev)
    if (opens or isinstance(ev, StreamStarted)) and restrictions.cut_off_banned_stream(ctx, sid):
        return
    judge(ctx, sid)


def _make_room(ctx: Context, sid: str) -> None:
    """Keep at most `state.live_streams` live streams: before one more opens, the oldest
    (by last event, then start, then id) is dropped, no longer watched, as an idle stream
    is forgotten; the creator is flagged for review once while over the cap."""
    state, cap = ctx.state, ctx.policy.caps.live_streams
    if len(state.streams) < cap:
        state.over_stream_cap = False
        return
    while len(state.streams) >= cap:
        oldest = min(state.streams, key=lambda k: (state.streams[k].last_ts,
                                                   state.streams[k].started_ts, k))  # fmt: skip
        del state.streams[oldest]
    if state.over_stream_cap:
        return
    state.over_stream_cap = True
    why = (
        f"the creator has more than {cap} live streams at once; LiveGate watches the newest"
        f" {cap} (the oldest, `{oldest[:64]}`, is no longer watched)"
    )
    ctx.fire(STREAM_CAP, STREAM_CAP.actions, why, stream_id=sid)


def on_stream_ended(ctx: Context, ev: StreamEnded) -> None:
    ctx.state.streams.pop(ev.stream_id, None)
    ctx.state.ended[ev.stream_id] = ev.ts


def _info(policy: Policy, old: StreamInfo | None, ev: StreamStarted | StreamUpdated) -> StreamInfo:
    category = ev.category if ev.category is not None else (old.category if old else None)
    title = ev.title if ev.title is not None else (old.title if old else None)
    if title is not None and len(title) > MAX_TITLE:
        title = title[:MAX_TITLE]  # the decoder already refuses longer ones
    domain = policy.category_domain.get(category) if category is not None else None
    suspected = None if domain is not None else policy.suspected_domain(title)
    if old is None:
        return StreamInfo(
            category=category, title=title, domain=domain, suspected=suspected,
            started_ts=ev.ts, last_ts=ev.ts,
        )  # fmt: skip
    return msgspec.structs.replace(
        old, category=category, title=title, domain=domain, suspected=suspected,
        last_ts=max(old.last_ts, ev.ts),
    )  # fmt: skip


def judge(ctx: Context, sid: str) -> None:
    """Judge each (stream, domain) once: on start, and when an update moves it into D."""
    info = ctx.state.streams[sid]
    if info.domain is not None:
        domain = info.domain
        if domain in info.judged:
            return
        ctx.state.streams[sid] = msgspec.structs.replace(info, judged=(*info.judged, domain))
        if ctx.qualified(domain):
            ctx.watch_expiry(domain, sid)
            return
        rule = ctx.policy.rules[UNQUALIFIED]
        why = (
            f"the stream is in the regulated {domain} domain (category `{info.category}`)"
            f" and the creator holds no valid {domain} qualification"
        )
        ctx.fire(rule, rule.actions, why, stream_id=sid, domain=domain)

    elif info.suspected is not None:
        domain = info.suspected
        if domain in info.judged_suspected:
            return
        judged = (*info.judged_suspected, domain)
        ctx.state.streams[sid] = msgspec.structs.replace(info, judged_suspected=judged)
        if ctx.qualified(domain) or cleared(ctx, sid, domain):
            return
        rule = ctx.policy.rules[SUSPECTED]
        why = (
            f"the stream's title suggests {domain} content"
            f" and the creator holds no valid {domain} qualification"
        )
        ctx.fire(rule, rule.actions, why, stream_id=sid, domain=domain)


def cleared(ctx: Context, stream_id: str | None, domain: str) -> bool:
    """A reviewer dismissed a flag of this stream for this domain: it is not flagged again."""
    return stream_id is not None and f"{stream_id}\x1f{domain}" in ctx.state.cleared
