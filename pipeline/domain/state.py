"""Per-creator enforcement state: a compact, JSON-encodable value that `decide` replaces.

Nested values (StreamInfo, ReportWindow, Restrictions) are frozen and their containers are
never changed in place, so a working copy of a state only needs shallow copies of its
top-level dicts: the state a caller passed in is never modified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeVar

import msgspec

from pipeline.domain.errors import LiveGateError
from pipeline.domain.policy import ActionSpec, Policy, StateCaps

V = TypeVar("V")
PERMANENT: Final = "permanent"
RESTRICTING: Final = ("ban_account", "limit_recommendation", "revoke_commerce")
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


class Imposed(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """One action of an enforcing decision: what `explain` shows and an overturn reverses."""

    action_id: str
    action: str
    rule_id: str
    reason: str
    until: Until | None = None  # restricting actions: their end (None: while qualified)
    while_qualified: str | None = None  # revoke_commerce lasting while qualified for it
    surfaces: tuple[str, ...] = ()
    # v3 (CONTRACT §11): what its notice was rendered from beyond the above, so the creator
    # view shows the notice the creator was sent (`livegate explain`, the console).
    stream_id: str | None = None
    link_id: str | None = None
    domain: str | None = None
    points: int | None = None
    credit_after: int | None = None


class Enforcement(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """An enforcing decision, kept while it can be appealed or one of its restrictions is
    in force: enough to overturn exactly what it imposed (CONTRACT §9)."""

    trigger: str  # the decided event's event_id
    event_ts: int
    decided_at: int
    evidence: tuple[str, ...]
    actions: tuple[Imposed, ...]  # its appealable actions
    points: int = 0  # credit it actually took (before minus after)
    deduct_rule: str | None = None  # the rule whose deduction it was (repeat escalation)
    lifted: tuple[str, ...] = ()  # its action ids already ended by a lifting action
    overturned: bool = False
    # Appeals of its actions that were decided: (action_id, appeal_id, verdict). Such an
    # action cannot be appealed again (CONTRACT §12, `already_decided`).
    verdicts: tuple[tuple[str, str, str], ...] = ()


class ReviewItem(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """An open review item: a flag_for_review action waiting for a person's verdict."""

    review_id: str  # the flag_for_review action's id
    rule_id: str
    trigger: str  # event_id of the flagged decision
    opened_at: int
    reason: str
    evidence: tuple[str, ...]
    domain: str | None = None
    stream_id: str | None = None
    limit_id: str | None = None  # the limit_recommendation the flagged decision imposed
    limit_until: Until | None = None


class AppealItem(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """An open appeal of one enforcing action."""

    appeal_id: str
    action_id: str
    rule_id: str
    trigger: str  # event_id of the decision that emitted the appealed action
    opened_at: int
    statement: str | None = None


class Exemption(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """An exemption of the creator from one rule (or every rule, `rule_id` None) until
    `until` (CONTRACT §10): while it covers an event's `ts`, the rule acts as `shadow`."""

    rule_id: str | None
    until: int
    granted_ts: int  # the granting event's ts: it covers events from then on
    reason: str = ""
    granted_by: str = ""


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
    # v2, the review loop (CONTRACT §9), each bounded by the policy's appeals/review caps:
    enforcements: dict[str, Enforcement] = {}  # trigger event_id -> it, oldest first
    reviews: dict[str, ReviewItem] = {}  # open review items by review_id
    appeals: dict[str, AppealItem] = {}  # open appeals by appeal_id
    closed: dict[str, int] = {}  # closed review/appeal ids -> ts: a later verdict is a no-op
    cleared: dict[str, int] = {}  # "stream\x1fdomain" dismissed on review -> ts
    decided: dict[str, int] = {}  # event_id -> ts, oldest first
    # "topic:partition" -> the offset of the last record decided for this creator there.
    # A redelivered record (a crash, a rebalance) is at or below it whatever the creator's
    # rate: the id set above only has to catch the same event under a new offset.
    offsets: dict[str, int] = {}
    # Flagged for having more live streams than policy `state.live_streams` (once, until
    # the creator is back under the cap).
    over_stream_cap: bool = False
    # v3 (CONTRACT §10): exemptions by exemption_id, bounded (policy `exemptions.max_active`)
    # and forgotten once past their `until`.
    exemptions: dict[str, Exemption] = {}
    # v3 (CONTRACT §11): the platform of the creator's first decided event; None in a state
    # written before v3 (its next event's platform is taken, credit rescaled to its scheme).
    platform: str | None = None

    @classmethod
    def new(cls, policy: Policy, platform: str | None = None) -> CreatorState:
        """A creator's first state: `policy` is its platform's merged policy (its scheme)."""
        return cls(credit=policy.credit.start, platform=platform)


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
    if not view["exemptions"]:  # v3: absent when empty, as in records written before it
        del view["exemptions"]
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
        enforcements=state.enforcements.copy(),
        reviews=state.reviews.copy(),
        appeals=state.appeals.copy(),
        closed=state.closed.copy(),
        cleared=state.cleared.copy(),
        exemptions=state.exemptions.copy(),
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
    cleared = [
        k for k, t in state.cleared.items() if t <= horizon and _stream(k) not in state.streams
    ]
    for k in cleared:
        del state.cleared[k]
    _trim(state.cleared, policy.max_open_reviews, _itself)
    _forget_enforcements(state, ts, policy)
    window = ts - policy.appeal_window_ms
    old = [k for k, t in state.closed.items() if t < window]
    for k in old:
        del state.closed[k]
    _trim(state.closed, policy.max_closed_items, _itself)
    # Exemptions a day past their end: a late event of that day is still covered.
    ended = [k for k, e in state.exemptions.items() if e.until < ts - 86_400_000]
    for k in ended:
        del state.exemptions[k]


def _stream(cleared_key: str) -> str:
    return cleared_key.split("\x1f", 1)[0]


def _trim(items: dict[str, V], limit: int, when: Callable[[V], int]) -> None:
    """Forget the oldest entries (by their time, then id) beyond `limit`."""
    while len(items) > limit:
        del items[oldest(items, when)]


def _itself(ts: int) -> int:
    return ts


def oldest(items: Mapping[str, V], when: Callable[[V], int]) -> str:
    """The key of the oldest entry, by its time, then its key.

    Never insertion order: a decision record's `state_before` is canonical JSON (sorted
    keys), so a state rebuilt from it for a replay has another order, and an eviction by
    insertion order would evict another entry there than the worker did.
    """
    return min(items, key=lambda k: (when(items[k]), k))


def holds(e: Enforcement, restrictions: Restrictions, t: int) -> bool:
    """Whether one of the decision's restrictions can still be in force at t."""
    for a in e.actions:
        if a.action_id in e.lifted or e.overturned:
            continue
        if a.while_qualified is not None:
            tied = restrictions.commerce_revoked_while_qualified
            if any(tied.get(s) == a.while_qualified for s in a.surfaces):
                return True
        elif a.action in RESTRICTING and in_force(a.until, t):
            return True
    return False


def _forget_enforcements(state: CreatorState, ts: int, policy: Policy) -> None:
    """Keep what can be appealed (the window) or still restricts; then at most the cap,
    forgetting first those that restrict nothing any more."""
    items = state.enforcements
    window = ts - policy.appeal_window_ms
    r = state.restrictions
    for trigger in [k for k, e in items.items() if e.event_ts < window and not holds(e, r, ts)]:
        del items[trigger]
    if len(items) <= policy.max_enforcements:
        return
    idle = sorted((e.event_ts, k) for k, e in items.items() if not holds(e, r, ts))
    for _, trigger in idle:  # oldest first, by time: never by insertion order (see oldest)
        if len(items) <= policy.max_enforcements:
            break
        del items[trigger]
    _trim(items, policy.max_enforcements, lambda e: e.event_ts)


def remember(state: CreatorState, event_id: str, ts: int, policy: Policy) -> None:
    """Note a decided event's time. Decided event ids are not kept here any more: the engine
    keeps them per (creator, event_id) for the whole horizon, whatever the creator's rate (a
    set bounded by count forgot a producer retry after enough other events). A state of an
    earlier version still has its ids: the engine moves them to its store when it reads the
    state, and they leave the state with its next decision."""
    if ts > state.newest_ts:
        state.newest_ts = ts
    if state.decided:
        state.decided = {}


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
