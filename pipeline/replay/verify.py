"""`livegate replay verify`: re-decide every recorded decision of a period exactly.

For each decision record whose event_ts is in [start, end): decode its event, certification
snapshot and state_before, decide again with the recorded policy (from the policy history)
and `decided_at` as the clock, and compare outcome, action ids, rule ids, state and every
action's full content with the record and with `enforcement.actions`. Beside that: the hash
chains (chain.py), the state each decision started from against the state its creator's
previous decision left, each snapshot against the certification history, and actions on
`enforcement.actions` that no decision accounts for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.domain.actions import encode_action
from pipeline.domain.activation import version_clock
from pipeline.domain.audit import canonical_json, decision_id, record_status
from pipeline.domain.certifications import Certification
from pipeline.domain.decide import Decision, decide
from pipeline.domain.errors import LiveGateError
from pipeline.domain.events import Event, event_type
from pipeline.domain.signing import SIGNED_TYPES, check_signature
from pipeline.domain.state import CreatorState, forget_idle, state_view, working_copy
from pipeline.replay.chain import Finding, check_partition
from pipeline.replay.log import (
    ReplayError,
    ReplayInputs,
    Row,
    decode_json,
    in_period,
    recorded_certs,
    recorded_event,
    recorded_state,
)
from pipeline.replay.progress import Progress

_decoder = msgspec.json.Decoder()
_IGNORED_ON_REDELIVERY = ("decided_at",)


@dataclass
class VerifyReport:
    start: int
    end: int
    decisions_topic: str
    records: int = 0  # decision records read (whole log: chains are checked end to end)
    checked: int = 0  # decisions of the period re-decided
    matched: int = 0
    duplicates: int = 0  # re-emitted decisions (identical content) among the checked
    actions_checked: int = 0
    redelivered_actions: int = 0  # action copies equal but for decided_at
    forks: int = 0
    in_flight: int = 0  # snapshots that only miss a change made within the grace period
    mismatches: list[Finding] = field(default_factory=list)
    breaks: list[Finding] = field(default_factory=list)
    # Records LiveGate did not seal: named, not failures of LiveGate's chain.
    foreign: list[Finding] = field(default_factory=list)
    unsealed: int = 0  # records written before v3 (no seal): LiveGate's, not checked by seal
    # Signed events (CONTRACT §12) whose key this replay does not hold: re-decided as
    # recorded, their signature not checked again.
    unverified: list[Finding] = field(default_factory=list)
    stale: list[Finding] = field(default_factory=list)
    # Read by period: breaks in the chain before the period (the head it continues, or the
    # records read ahead of it): reported as such, not failures of the period.
    before: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    decide_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.breaks and not self.problems

    @property
    def rate(self) -> float:
        return self.checked / self.decide_seconds if self.decide_seconds else 0.0


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (a tuple in a fresh value is a list in a decoded record)."""
    return a == b or canonical_json(a) == canonical_json(b)


def _diff(recorded: Any, replayed: Any, name: str) -> str | None:
    if _same(recorded, replayed):
        return None
    return f"{name}: recorded {_short(recorded)}, replay {_short(replayed)}"


def _short(value: Any) -> str:
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= 160 else text[:157] + "…"


class Verifier:
    def __init__(
        self,
        inputs: ReplayInputs,
        start: int,
        end: int,
        grace_ms: int,
        progress: bool | None = None,
    ) -> None:
        self.i = inputs
        self.report = VerifyReport(start, end, inputs.decisions_topic)
        self.grace_ms = grace_ms
        self.progress = progress
        self.explained: set[str] = set()  # action ids some decision record names
        book = inputs.book
        self.first_activated = min(a.activated_at for a in book.activations) if book else 0

    def run(self) -> VerifyReport:
        started = time.perf_counter()
        rep = self.report
        rep.problems.extend(self.i.policy_problems)
        total = sum(
            1
            for rows in self.i.decisions.values()
            for r in rows
            if in_period(r.record, rep.start, rep.end)
        )
        bar = Progress("verify", self.progress)
        for partition in sorted(self.i.decisions):
            rows = self.i.decisions[partition]
            chained = [(r.offset, r.record) for r in rows]
            starts = self.i.starts_at_zero.get(partition, True)
            head = self.i.heads.get(partition)
            if head is not None:
                if record_status(head.record, self.i.seal_keys or {})[0] is None:
                    rep.before.append(self._finding(
                        "break", head, head.record or {},
                        "the chain head just before the period does not verify (hash or seal):"
                        " a break before the period; the period is checked from its first record",
                    ))  # fmt: skip
                else:
                    chained.insert(0, (head.offset, head.record))
            chain = check_partition(partition, chained, starts, self.i.seal_keys)
            rep.unsealed += chain.unsealed
            rep.records += chain.records
            rep.forks += chain.forks
            first = min((r.offset for r in rows if in_period(r.record, rep.start, rep.end)),
                        default=None)  # fmt: skip
            for b in chain.breaks:  # a break ahead of the period's first decision: before it
                (rep.before if first is None or b.offset < first else rep.breaks).append(b)
            rep.foreign.extend(chain.foreign)
            rep.mismatches.extend(chain.conflicts)
            foreign = chain.foreign_offsets
            self._partition([r for r in rows if r.offset not in foreign], chain.duplicates, bar,
                            total)  # fmt: skip
        bar.close()
        self._orphans()
        rep.total_seconds = time.perf_counter() - started
        return rep

    def _partition(self, rows: list[Row], duplicates: set[int], bar: Progress, total: int) -> None:
        rep = self.report
        left: dict[str, tuple[CreatorState, int]] = {}  # creator -> state its last decision left
        for row in rows:
            rec = row.record
            if rec is None:
                continue
            for aid in rec.get("action_ids") or ():
                self.explained.add(aid)
            if not in_period(rec, rep.start, rep.end):
                # Not re-decided: the state it left is unknown to the next one in the period.
                left.pop(str(rec.get("creator_id")), None)
                continue
            t0 = time.perf_counter()
            rep.checked += 1
            duplicate = row.offset in duplicates
            rep.duplicates += duplicate
            problems, decided = self._redecide(row, rec)
            if decided is None:
                left.pop(str(rec.get("creator_id")), None)
            elif not duplicate:
                event, decision, policy_idle = decided
                gap = self._continuity(left.get(event.creator_id), event, rec, policy_idle)
                if gap:
                    rep.mismatches.append(self._finding("state", row, rec, gap))
                # A held decision (breaker, daily cap) changed no state.
                kept = recorded_state(rec) if rec.get("held") else decision.new_state
                left[event.creator_id] = (kept, row.offset)
            if problems:
                rep.mismatches.append(self._finding("mismatch", row, rec, "; ".join(problems)))
            else:
                rep.matched += 1
            self._stale(row, rec)
            rep.decide_seconds += time.perf_counter() - t0
            bar(rep.checked, total)

    def _finding(self, kind: str, row: Row, rec: dict[str, Any], detail: str) -> Finding:
        return Finding(
            kind, row.partition, row.offset, detail, rec.get("creator_id"), rec.get("event_id")
        )

    def _redecide(
        self, row: Row, rec: dict[str, Any]
    ) -> tuple[list[str], tuple[Event, Decision, Any] | None]:
        version = rec.get("policy_version")
        policy = self.i.policies.get(str(version))
        if policy is None:
            return [f"policy {version} is not in the policy history"], None
        try:
            event = recorded_event(rec)
            certs = recorded_certs(rec)
            state = recorded_state(rec)
            decided_at = rec.get("decided_at")
            if not isinstance(decided_at, int):
                raise ReplayError("decided_at is not an integer")
            record_ts = rec.get("record_ts")
            record_ts = record_ts if isinstance(record_ts, int) else None
            d = decide(event, certs, state, policy, decided_at, None, record_ts,
                       _cap_counts(rec, policy))  # fmt: skip
        except LiveGateError as exc:
            return [str(exc)], None
        in_force = self._version_in_force(event.ts, record_ts, decided_at)
        if in_force is not None and in_force != version:
            clock = version_clock(event.ts, record_ts)
            return [f"decided by policy {version}; the version in force at its version clock "
                    f"{clock} is {in_force}"], None  # fmt: skip
        signature = self._signature(row, rec)
        if d is None:  # a rebuilt state remembers no event ids
            return ["the replay found nothing to decide"], None
        checks = [
            _diff(
                rec.get("decision_id"), decision_id(event.creator_id, event.event_id), "decision_id"
            ),
            _diff(rec.get("event_id"), event.event_id, "event_id"),
            _diff(rec.get("creator_id"), event.creator_id, "creator_id"),
            _diff(rec.get("event_type"), event_type(event), "event_type"),
            _diff(rec.get("event_ts"), event.ts, "event_ts"),
            _diff(rec.get("outcome"), d.outcome, "outcome"),
            _diff(rec.get("action_ids"), [a.action_id for a in d.actions], "action_ids"),
            _diff(rec.get("rule_ids"), list(d.rule_ids), "rule_ids"),
            _diff(rec.get("state_before"), d.state_before, "state_before"),
            _diff(rec.get("certifications"), d.certifications, "certifications"),
        ]
        problems = [c for c in [*checks, signature] if c]
        if rec.get("held"):  # held actions were not sent
            return problems, (event, d, policy)
        for action in d.actions:
            self.report.actions_checked += 1
            problem = self._action(action.action_id, _decoder.decode(encode_action(action)))
            if problem:
                problems.append(problem)
        return problems, (event, d, policy)

    def _version_in_force(self, ts: int, record_ts: int | None, decided_at: int) -> str | None:
        """The version CONTRACT §10 says decides an event of this clock; None without
        activations, and for a decision made before the first activation was published (a
        worker of before them decided by its file)."""
        book = self.i.book
        if book is None or decided_at < self.first_activated:
            return None
        clock = version_clock(ts, record_ts)
        i = book.index_at(clock)
        return None if i is None else book.policies[i].version

    def _signature(self, row: Row, rec: dict[str, Any]) -> str | None:
        """A signed event's signature, checked again from the event as received (`signed`);
        one whose key this replay does not hold (retired) is UNVERIFIED, not a mismatch."""
        if rec.get("event_type") not in SIGNED_TYPES or not isinstance(rec.get("signed"), str):
            return None  # not a signed type, or recorded before v3
        body = decode_json(rec["signed"].encode("utf-8"))
        if body is None:
            return "the signed event recorded is not a JSON object"
        recorded = rec.get("event") or {}
        for k in ("event_id", "type", "creator_id", "ts", "reviewer_id", "verdict"):
            if k in recorded and body.get(k) != recorded.get(k):
                return f"the signed event recorded differs from the decided event in {k}"
        sig = body.get("signature")
        key_id = sig.get("key_id") if isinstance(sig, dict) else None
        if isinstance(key_id, str) and key_id not in self.i.verdict_keys:
            why = f"signed with key {key_id[:64]!r}, which this replay does not hold: "
            why += "re-decided as recorded"
            self.report.unverified.append(self._finding("unverified", row, rec, why))
            return None
        why = check_signature(body, self.i.verdict_keys)
        return None if why is None else f"signature: {why}"

    def _action(self, action_id: str, replayed: dict[str, Any]) -> str | None:
        copies = self.i.actions.get(action_id)
        label = f"action {replayed.get('action')} {action_id[:12]}…"
        if not copies:
            return f"{label} is not on {self.i.actions_topic}"
        if any(body == replayed for _, body in copies):
            return None
        loose = {k: v for k, v in replayed.items() if k not in _IGNORED_ON_REDELIVERY}
        for _, body in copies:
            if {k: v for k, v in body.items() if k not in _IGNORED_ON_REDELIVERY} == loose:
                self.report.redelivered_actions += 1
                return None
        raw, body = copies[0]
        fields = sorted(k for k in set(body) | set(replayed) if body.get(k) != replayed.get(k))
        diffs = ", ".join(
            f"{k}: recorded {_short(body.get(k))}, replay {_short(replayed.get(k))}"
            for k in fields[:4]
        )
        return f"{label} differs on {self.i.actions_topic}[{raw.partition}]@{raw.offset}: {diffs}"

    def _continuity(
        self, left: tuple[CreatorState, int] | None, event: Event, rec: dict[str, Any], policy: Any
    ) -> str | None:
        """The state a decision read must be the state the creator's previous decision left."""
        if left is None:
            return None
        previous, offset = left
        expected = working_copy(previous)
        forget_idle(expected, event.ts, policy)
        view = state_view(expected)
        recorded = rec.get("state_before")
        if _same(view, recorded):
            return None
        keys = sorted(
            k
            for k in set(view) | set(recorded or {})
            if not _same(view.get(k), (recorded or {}).get(k))
        )
        return (
            f"state_before differs from the state the creator's previous decision "
            f"(offset {offset}) left, in {', '.join(keys)}"
        )

    def _stale(self, row: Row, rec: dict[str, Any]) -> None:
        creator = rec.get("creator_id")
        decided_at = rec.get("decided_at")
        try:
            snapshot = recorded_certs(rec)
        except ReplayError:
            return  # already a mismatch
        if not isinstance(creator, str) or not isinstance(decided_at, int):
            return
        stale, in_flight = self.i.history.check(creator, snapshot, decided_at, self.grace_ms)
        self.report.in_flight += in_flight
        for s in stale:
            self.report.stale.append(
                self._finding(
                    "stale", row, rec, _stale_detail(s.domain, s.recorded, s.expected, s.missed)
                )
            )

    def _orphans(self) -> None:
        rep = self.report
        for aid, copies in self.i.actions.items():
            if aid in self.explained:
                continue
            raw, body = copies[0]
            if not in_period(body, rep.start, rep.end):
                continue
            rep.mismatches.append(
                Finding(
                    "orphan",
                    raw.partition,
                    raw.offset,
                    f"action {body.get('action')} {aid[:12]}… on {self.i.actions_topic} (trigger "
                    f"{','.join(body.get('evidence') or [])}) has no decision record that names it",
                    body.get("creator_id"),
                    None,
                )
            )


def _cap_counts(rec: dict[str, Any], policy: Any) -> dict[str, int] | None:
    """A decision held by a daily cap is decided again with the count it recorded, so the
    replay holds it too; any other, as if every cap had room (it was not held)."""
    capped = [r.rule_id for r in policy.rules.values() if r.life.daily_cap is not None]
    if not capped:
        return None
    if rec.get("held") == "daily_cap":
        count = rec.get("cap_count")
        n = count if isinstance(count, int) else 2**31
        return {rule: n for rule in capped}
    return {rule: 0 for rule in capped}


def _cert(c: Certification | None) -> str:
    if c is None:
        return "nothing"
    return f"{c.status} ({c.event_id}, ts {c.updated_at})"


def _stale_detail(
    domain: str, recorded: Certification | None, expected: Certification | None, missed: Any
) -> str:
    text = (
        f"certification snapshot for {domain} says {_cert(recorded)}; the history as of "
        f"decided_at says {_cert(expected)}"
    )
    if missed is not None and (recorded is None or recorded.event_id != missed.event_id):
        text += f"; missed change {missed.event_id} ({event_type(missed)} at ts {missed.ts})"
    elif recorded is not None and expected is not None:
        text += "; the snapshot's content differs from that change"
    elif recorded is not None:
        text += "; the history holds no such change"
    return text
