"""Per-creator enforcement state: a compact, JSON-encodable value that `decide` replaces.

Nested values (StreamInfo, ReportWindow, Restrictions) are frozen and their containers are
never changed in place, so a working copy of a state only needs shallow copies of its
top-level dicts: the state a caller passed in is never modified.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final, Literal

import msgspec

from pipeline.domain.errors import LiveGateError
from pipeline.domain.policy import ActionSpec, Policy, StateCaps

PERMANENT: Final = "permanent"
Until = int | Literal["permanent"]


def in_force(until: Until | None, t: int) -> bool:
    return until is not None and (until == PERMANENT or t < until)


def later(a: Until | None, b: Until | None) -> Until | None:
    """The longer of two restrictions: a new, shorter one never shortens what is in force."""
    if a is None:
        return b
    if b is None:
        return a
    if a == PERMANENT or b == PERMANENT:
        return PERMANENT
    return max(a, b)


class StreamInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    category: str | None  # None when a stream was opened by an update without one
    title: str | None = None
    domain: str | None = None  # the domain its category maps to
    suspected: str | None = None  # the domain its title suggests, when category maps to none
    started_ts: int
    last_ts: int
    judged: tuple[str, ...] = ()  # domains live.unqualified has judged for this stream
    judged_suspected: tuple[str, ...] = ()  # domains live.suspected has judged


class ReportWindow(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """User reports about one stream: each distinct reporter with their latest report ts."""

    reporters: dict[str, int]
    latest_ts: int  # newest report ts: the window is [latest_ts - window, latest_ts]
    domain: str | None = None  # the newest domain a report named
    # The stream's own (or suspected) domain while it was live: it still decides D after
    # the stream ended, so a cut-off stream is not judged again under the reports' domain.
    stream_domain: str | None = None
    fired: tuple[str, ...] = ()  # domains reports.threshold has fired for
    events: dict[str, str] = {}  # reporter -> event_id of their latest report (evidence)


class Restrictions(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    banned_until: Until | None = None
    recommendation_limited_until: Until | None = None
    commerce_revoked: dict[str, Until] = {}  # surface -> until
    # surface -> domain: commerce revoked for as long as the creator is qualified for it
    commerce_revoked_while_qualified: dict[str, str] = {}


class CreatorState(msgspec.Struct, kw_only=True):
    credit: int  # credit right after the last deduction; recovery is derived, not stored
    last_deduction_ts: int | None = None
    rule_deductions: dict[str, int] = {}  # rule_id -> ts of its last deduction
    streams: dict[str, StreamInfo] = {}  # live streams
    restrictions: Restrictions = msgspec.field(default_factory=Restrictions)
    medical_links: int = 0  # products linked while qualified for the medical domain
    reports: dict[str, ReportWindow] = {}  # stream_id -> its user-report window
    # Streams that ended or were cut off, by ts: a late update must not reopen them.
    ended: dict[str, int] = {}
    newest_ts: int = 0
    decided: dict[str, int] = {}  # event_id -> ts, oldest first
    # "topic:partition" -> the offset of the last record decided for this creator there.
    # A redelivered record (a crash, a rebalance) is at or below it whatever the creator's
    # rate: the id set above only has to catch the same event under a new offset.
    offsets: dict[str, int] = {}
    # Flagged for having more live streams than policy `state.live_streams` (once, until
    # the creator is back under the cap).
    over_stream_cap: bool = False

    @classmethod
    def new(cls, policy: Policy) -> CreatorState:
        return cls(credit=policy.credit.start)


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(CreatorState)


def encode_state(state: CreatorState) -> bytes:
    return _ENCODER.encode(state)


def decode_state(data: bytes) -> CreatorState:
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise LiveGateError(f"bad creator state: {exc}") from None


def state_view(state: CreatorState) -> dict[str, Any]:
    """Everything a decision reads, without the (write-only) decided ids and offsets."""
    view: dict[str, Any] = msgspec.to_builtins(
        msgspec.structs.replace(state, decided={}, offsets={})
    )
    del view["decided"], view["offsets"]
    return view


def state_from_view(view: dict[str, Any]) -> CreatorState:
    """Rebuild a state from a decision's `state_before`, for an auditor's replay."""
    try:
        return msgspec.convert({**view, "decided": {}, "offsets": {}}, CreatorState)
    except msgspec.ValidationError as exc:
        raise LiveGateError(f"bad state view: {exc}") from None


def working_copy(state: CreatorState) -> CreatorState:
    return msgspec.structs.replace(
        state,
        rule_deductions=state.rule_deductions.copy(),
        streams=state.streams.copy(),
        reports=state.reports.copy(),
        ended=state.ended.copy(),
        # .copy(), not dict(): it stays a fast block copy when the dict has holes left by
        # trimming its oldest entries.
        decided=state.decided.copy(),
        offsets=state.offsets.copy(),
    )


def forget_idle(state: CreatorState, ts: int, policy: Policy) -> None:
    """Drop streams, report windows and ended streams idle for the period (by event time)."""
    horizon = ts - policy.stream_idle_ms
    idle = [sid for sid, s in state.streams.items() if s.last_ts <= horizon]
    for sid in idle:
        del state.streams[sid]
    stale = [sid for sid, w in state.reports.items() if w.latest_ts <= horizon]
    for sid in stale:
        del state.reports[sid]
    gone = [sid for sid, ended_ts in state.ended.items() if ended_ts <= horizon]
    for sid in gone:
        del state.ended[sid]


def remember(state: CreatorState, event_id: str, ts: int, policy: Policy) -> None:
    """Record a decided event id; forget the oldest beyond the horizon or the count limit."""
    decided = state.decided
    decided[event_id] = ts
    if ts > state.newest_ts:
        state.newest_ts = ts
    horizon = state.newest_ts - policy.dedup_horizon_ms
    # Insertion order is arrival order, nearly ts order: trimming from the front is cheap
    # and a late, older id merely lives a little longer than the horizon.
    while decided:
        oldest = next(iter(decided))
        if len(decided) <= policy.max_decided_ids and decided[oldest] >= horizon:
            break
        del decided[oldest]


Source = tuple[str, int]  # ("topic:partition", offset) of the record an event came in


def seen_offset(state: CreatorState, source: Source) -> bool:
    """Whether the record at this place was already decided for this creator."""
    where, offset = source
    return offset <= state.offsets.get(where, -1)


def mark_offset(state: CreatorState, source: Source) -> None:
    where, offset = source
    if offset > state.offsets.get(where, -1):
        state.offsets[where] = offset


def restrict(state: CreatorState, spec: ActionSpec, t: int, domain: str | None) -> None:
    """Record the restriction an action imposes, so later events enforce it."""
    r = state.restrictions
    until: Until = PERMANENT if spec.duration_ms is None else t + spec.duration_ms
    if spec.name == "ban_account":
        r = msgspec.structs.replace(r, banned_until=later(r.banned_until, until))
    elif spec.name == "limit_recommendation":
        limited = later(r.recommendation_limited_until, until)
        r = msgspec.structs.replace(r, recommendation_limited_until=limited)
    elif spec.name == "revoke_commerce" and spec.while_qualified and domain is not None:
        tied = dict(r.commerce_revoked_while_qualified)
        tied.update(dict.fromkeys(spec.surfaces, domain))
        r = msgspec.structs.replace(r, commerce_revoked_while_qualified=tied)
    elif spec.name == "revoke_commerce":
        revoked = dict(r.commerce_revoked)
        for surface in spec.surfaces:
            revoked[surface] = later(revoked.get(surface), until) or until
        r = msgspec.structs.replace(r, commerce_revoked=revoked)
    state.restrictions = r


# --- bounds (policy `state:` caps, issue 12 #1) ---------------------------------------------
MAX_TITLE: Final = 512  # CONTRACT §2: a stored title is at most 512 characters
_MAX_KEY_BYTES: Final = 64


def reporter_key(reporter_id: str) -> str:
    """The key a reporter is counted under in a report window: the id itself, or for a
    long or unprintable one (up to 256 characters, 6 bytes each in JSON) its digest, so a
    window's size does not depend on what reporters are called. Only distinctness counts."""
    if reporter_id.isprintable() and len(reporter_id.encode()) <= _MAX_KEY_BYTES:
        return reporter_id
    return "sha256:" + hashlib.sha256(reporter_id.encode()).hexdigest()[:40]


def newest(entries: dict[str, int], keep: int) -> dict[str, int]:
    """The `keep` entries with the newest ts (ties: the larger key), in their order."""
    if len(entries) <= keep:
        return entries
    kept = set(sorted(entries, key=lambda k: (entries[k], k))[-keep:])
    return {k: t for k, t in entries.items() if k in kept}


def bound_state(state: CreatorState, caps: StateCaps) -> None:
    """Apply the caps on ended streams and report windows (oldest first out). Live streams
    are capped by the live rule (it flags the creator) and reporters by reports.threshold."""
    if len(state.ended) > caps.ended_streams:
        state.ended = newest(state.ended, caps.ended_streams)
    if len(state.reports) > caps.report_windows:
        latest = {sid: w.latest_ts for sid, w in state.reports.items()}
        kept = newest(latest, caps.report_windows)
        state.reports = {sid: w for sid, w in state.reports.items() if sid in kept}
