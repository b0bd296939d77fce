"""`livegate replay whatif`: the recorded events of a period through a candidate policy.

Events come from the decision log (each decided event once, re-emissions skipped), in log
order per partition, which is each creator's decision order. For every event the candidate
decides with the certifications the `certification.changes` history says the creator held
at the event's time, and with creator state rebuilt from the start of the period (every
creator starts fresh at the period's start). The clock is the recorded `decided_at`. Nothing
is produced anywhere: the result is a comparison with the actions actually recorded.

The same rebuild is run with each decision's recorded policy as a baseline ("drift"): it
shows how much of a difference comes from the rebuild itself (state before the period,
certification changes racing decisions) rather than from the candidate policy.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.domain.actions import Action, action_subject
from pipeline.domain.activation import version_clock
from pipeline.domain.decide import decide
from pipeline.domain.errors import LiveGateError
from pipeline.domain.events import Event, event_type
from pipeline.domain.policy import Policy
from pipeline.domain.state import CreatorState
from pipeline.replay.chain import check_partition
from pipeline.replay.log import ReplayInputs, in_period, recorded_event
from pipeline.replay.progress import Progress

ActionKey = tuple[str, str, str, str]  # creator, action, rule_id, subject


def action_key(body: dict[str, Any] | Action) -> ActionKey:
    b = body if isinstance(body, dict) else msgspec.to_builtins(body)
    subject = action_subject(str(b.get("creator_id")), b.get("stream_id"), b.get("link_id"))
    return (str(b.get("creator_id")), str(b.get("action")), str(b.get("rule_id")), str(subject))


@dataclass
class EventResult:
    partition: int
    offset: int
    event: Event
    recorded_outcome: str
    candidate_outcome: str
    recorded: list[dict[str, Any]]  # the recorded actions' JSON
    candidate: list[dict[str, Any]]

    @property
    def platform(self) -> str:
        """The creator's platform, as its actions name it (CONTRACT §11)."""
        for a in (*self.candidate, *self.recorded):
            if isinstance(a.get("platform"), str):
                return str(a["platform"])
        return "default"


@dataclass
class Change:
    change: str  # added | removed
    creator_id: str
    action: str
    rule_id: str
    subject: str
    event_id: str  # an event where it happens (candidate for added, recorded for removed)
    event_type: str
    event_ts: int
    partition: int
    offset: int
    detail: str
    platform: str = "default"  # v3 (CONTRACT §11): the creator's platform


@dataclass
class WhatIfResult:
    start: int
    end: int
    candidate_version: str
    recorded_versions: Counter[str] = field(default_factory=Counter)
    events: int = 0
    creators: int = 0
    duplicates_skipped: int = 0
    unknown_actions: int = 0  # recorded action ids not found on enforcement.actions
    recorded_counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, action)
    candidate_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)
    outcome_changes: dict[str, list[EventResult]] = field(default_factory=dict)  # by creator
    drift_events: int | None = None  # events where the rebuild alone changes the actions
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _period_rows(inputs: ReplayInputs, start: int, end: int) -> tuple[list[Any], int]:
    """(partition, offset, record) of each decided event of the period, once, in log order."""
    rows, dups = [], 0
    for p in sorted(inputs.decisions):
        part = inputs.decisions[p]
        chain = check_partition(p, [(r.offset, r.record) for r in part], True, inputs.seal_keys)
        foreign = chain.foreign_offsets  # not LiveGate's (CONTRACT §12): never replayed
        for r in part:
            if r.record is None or not in_period(r.record, start, end) or r.offset in foreign:
                continue
            if r.offset in chain.duplicates:
                dups += 1
                continue
            rows.append((p, r.offset, r.record))
    return rows, dups


def _run(
    rows: list[Any],
    inputs: ReplayInputs,
    policy_of: Callable[[dict[str, Any]], Policy],
    progress: Progress | None,
) -> list[tuple[Event, list[Action], str] | None]:
    """Decide every row in order with rebuilt state and certifications."""
    states: dict[str, CreatorState | None] = {}
    out: list[tuple[Event, list[Action], str] | None] = []
    for n, (_, _, rec) in enumerate(rows, 1):
        try:
            event = recorded_event(rec)
            policy = policy_of(rec)
        except LiveGateError:
            out.append(None)
            continue
        certs = inputs.history.snapshot_as_of(event.creator_id, event.ts)
        record_ts = rec.get("record_ts")
        d = decide(
            event, certs, states.get(event.creator_id), policy, int(rec["decided_at"]), None,
            record_ts if isinstance(record_ts, int) else None,
        )  # fmt: skip
        if d is None or d.rejected is not None:  # a verdict on what this policy never did
            out.append(None)
            continue
        states[event.creator_id] = d.new_state
        out.append((event, d.actions, d.outcome))
        if progress:
            progress(n, len(rows))
    return out


def whatif(
    inputs: ReplayInputs,
    candidate: Policy,
    start: int,
    end: int,
    progress: bool | None = None,
    drift: bool = True,
    effective_from: int | None = None,
) -> WhatIfResult:
    """With `effective_from` (CONTRACT §10: a candidate activated for a future time), the
    candidate decides only the events whose version clock is at or after it; the others
    are decided by the version in force at their clock, as they were."""
    result = WhatIfResult(start, end, candidate.version)
    result.problems.extend(inputs.policy_problems)
    rows, result.duplicates_skipped = _period_rows(inputs, start, end)
    started = time.perf_counter()
    bar = Progress("whatif", progress)

    def policy_of(rec: dict[str, Any]) -> Policy:
        if effective_from is None or _clock(rec) >= effective_from:
            return candidate
        return in_force(inputs, rec)

    ran = _run(rows, inputs, policy_of, bar)
    bar.close()
    result.seconds = time.perf_counter() - started
    recorded_sets: list[list[dict[str, Any]]] = []
    rec_keys: Counter[ActionKey] = Counter()
    cand_keys: Counter[ActionKey] = Counter()
    first_rec: dict[ActionKey, list[EventResult]] = {}
    first_cand: dict[ActionKey, list[EventResult]] = {}
    creators = set()
    for (p, offset, rec), outcome in zip(rows, ran, strict=True):
        result.recorded_versions[str(rec.get("policy_version"))] += 1
        recorded = []
        for aid in rec.get("action_ids") or ():
            copies = inputs.actions.get(aid)
            if copies:
                recorded.append(copies[0][1])
            else:
                result.unknown_actions += 1
        recorded_sets.append(recorded)
        if outcome is None:
            result.problems.append(f"{p}@{offset}: the recorded event could not be decided")
            continue
        event, actions, cand_outcome = outcome
        result.events += 1
        creators.add(event.creator_id)
        cand = [msgspec.to_builtins(a) for a in actions]
        er = EventResult(p, offset, event, str(rec.get("outcome")), cand_outcome, recorded, cand)
        for b in recorded:
            k = action_key(b)
            rec_keys[k] += 1
            first_rec.setdefault(k, []).append(er)
            result.recorded_counts[(str(b.get("rule_id")), str(b.get("action")))] += 1
        for b in cand:
            k = action_key(b)
            cand_keys[k] += 1
            first_cand.setdefault(k, []).append(er)
            result.candidate_counts[(str(b.get("rule_id")), str(b.get("action")))] += 1
        if er.recorded_outcome != cand_outcome:
            result.outcome_changes.setdefault(event.creator_id, []).append(er)
    result.creators = len(creators)
    for k in sorted(set(rec_keys) | set(cand_keys)):
        extra = cand_keys[k] - rec_keys[k]
        if extra > 0:
            for er in first_cand[k][-extra:]:
                result.changes.append(_change("added", k, er))
        elif extra < 0:
            for er in first_rec[k][extra:]:
                result.changes.append(_change("removed", k, er))
    if drift:
        result.drift_events = _drift(rows, inputs, recorded_sets)
    return result


def _change(kind: str, k: ActionKey, er: EventResult) -> Change:
    ev = er.event
    detail = f"recorded outcome {er.recorded_outcome}, candidate {er.candidate_outcome}"
    return Change(
        kind,
        k[0],
        k[1],
        k[2],
        k[3],
        ev.event_id,
        event_type(ev),
        ev.ts,
        er.partition,
        er.offset,
        detail,
        er.platform,
    )


def _clock(rec: dict[str, Any]) -> int:
    ts, record_ts = rec.get("event_ts"), rec.get("record_ts")
    return version_clock(ts if isinstance(ts, int) else 0,
                         record_ts if isinstance(record_ts, int) else None)  # fmt: skip


def in_force(inputs: ReplayInputs, rec: dict[str, Any]) -> Policy:
    """The version in force at the recorded event's clock (CONTRACT §10); for a log of before
    activations, the recorded one."""
    book = inputs.book
    if book is not None and book.index_at(_clock(rec)) is not None:
        return book.at(_clock(rec))
    policy = inputs.policies.get(str(rec.get("policy_version")))
    if policy is None:
        raise LiveGateError(f"policy {rec.get('policy_version')} not in the history")
    return policy


def _drift(rows: list[Any], inputs: ReplayInputs, recorded: list[list[dict[str, Any]]]) -> int:
    baseline = _run(rows, inputs, lambda rec: in_force(inputs, rec), None)
    drift = 0
    for got, rec_actions in zip(baseline, recorded, strict=True):
        mine = sorted(action_key(a) for a in got[1]) if got else None
        if mine != sorted(action_key(a) for a in rec_actions):
            drift += 1
    return drift
