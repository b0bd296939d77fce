"""reports.threshold, reports.inspection and reports.machine."""

from __future__ import annotations

from typing import Final

from pipeline.domain.events import Report
from pipeline.domain.policy import RuleSpec
from pipeline.domain.rules.context import Context
from pipeline.domain.rules.live import cleared
from pipeline.domain.state import ReportWindow, newest, reporter_key

THRESHOLD: Final = "reports.threshold"
INSPECTION: Final = "reports.inspection"
MACHINE: Final = "reports.machine"


def on_report(ctx: Context, ev: Report) -> None:
    if ev.source == "user":
        _threshold(ctx, ev)
    elif ev.source == "inspection":
        _inspection(ctx, ev)
    else:
        _machine(ctx, ev)


def _stream_domain(ctx: Context, stream_id: str | None) -> str | None:
    info = ctx.state.streams.get(stream_id) if stream_id is not None else None
    if info is None:
        return None
    return info.domain or info.suspected


def _threshold(ctx: Context, ev: Report) -> None:
    """Distinct user reporters per stream in [latest - window, latest], by ts."""
    if ev.stream_id is None or ev.reporter_id is None:
        return
    if ev.reason not in ctx.policy.professional_reasons:
        return
    rule = ctx.policy.rules[THRESHOLD]
    sid = ev.stream_id
    old = ctx.state.reports.get(sid)
    latest = ev.ts if old is None else max(old.latest_ts, ev.ts)
    start = latest - rule.window_ms
    reporters = {} if old is None else {r: t for r, t in old.reporters.items() if t >= start}
    events = {} if old is None else {r: e for r, e in old.events.items() if r in reporters}
    who = reporter_key(ev.reporter_id)
    if ev.ts >= start and ev.ts >= reporters.get(who, ev.ts):
        reporters[who] = ev.ts
        events[who] = ev.event_id
    reporters, events = _capped(reporters, events, ctx.policy.caps.reporters_per_window)
    named = ev.domain if ev.domain is not None else (old.domain if old else None)
    own = _stream_domain(ctx, sid) or (old.stream_domain if old else None)
    domain = own or named
    fired = () if old is None else old.fired
    fire = domain is not None and domain not in fired and len(reporters) >= rule.distinct_reporters
    if fire and domain is not None:
        fired = (*fired, domain)
    ctx.state.reports[sid] = ReportWindow(
        reporters=reporters,
        latest_ts=latest,
        domain=named,
        stream_domain=own,
        fired=fired,
        events=events,
    )
    if not fire or domain is None:
        return
    ctx.evidence = tuple(sorted(events.values(), key=lambda e: (e != ev.event_id, e)))
    count = (
        f"{len(reporters)}"
        if len(reporters) < ctx.policy.caps.reporters_per_window
        else (f"at least {len(reporters)}")
    )
    why = f"{count} users reported {domain} content on the stream within {_span(rule)}"
    if ctx.qualified(domain):
        ctx.fire(rule, rule.actions_if_qualified, why, stream_id=sid, domain=domain)
    else:
        why += f" and the creator holds no valid {domain} qualification"
        ctx.fire(rule, rule.actions, why, stream_id=sid, domain=domain)


def _capped(
    reporters: dict[str, int], events: dict[str, str], cap: int
) -> tuple[dict[str, int], dict[str, str]]:
    """The newest `cap` reporters (policy state.reporters_per_window) and their evidence: a
    brigade past the cap is still counted up to the threshold and fires once; the window
    does not grow with it."""
    if len(reporters) <= cap:
        return reporters, events
    kept = newest(reporters, cap)
    return kept, {r: e for r, e in events.items() if r in kept}


def _span(rule: RuleSpec) -> str:
    minutes, seconds = divmod(rule.window_ms // 1000, 60)
    return f"{minutes} minutes" if not seconds else f"{rule.window_ms // 1000} seconds"


def _inspection(ctx: Context, ev: Report) -> None:
    if ev.reason not in ctx.policy.professional_reasons:
        return
    domain = ev.domain or _stream_domain(ctx, ev.stream_id)
    if domain is None:
        return
    rule = ctx.policy.rules[INSPECTION]
    if ctx.qualified(domain):
        why = f"a platform inspection found {domain} content to correct"
        ctx.fire(rule, rule.actions_if_qualified, why, stream_id=ev.stream_id, domain=domain)
    else:
        why = (
            f"a platform inspection found {domain} content"
            f" and the creator holds no valid {domain} qualification"
        )
        ctx.fire(rule, rule.actions, why, stream_id=ev.stream_id, domain=domain)


def _machine(ctx: Context, ev: Report) -> None:
    domain = ev.domain or _stream_domain(ctx, ev.stream_id)
    if domain is None or ev.confidence is None or ctx.qualified(domain):
        return
    if cleared(ctx, ev.stream_id, domain):
        return  # a reviewer found no violation of D on this stream
    rule = ctx.policy.rules[MACHINE]
    for band in rule.bands:
        if ev.confidence >= band.min_confidence:
            why = (
                f"machine detection found {domain} content (confidence {ev.confidence:.2f})"
                f" and the creator holds no valid {domain} qualification"
            )
            ctx.fire(rule, band.actions, why, stream_id=ev.stream_id, domain=domain)
            return
