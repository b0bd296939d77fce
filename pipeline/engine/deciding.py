"""Step 2 of a batch: decide its events in order, into one plan per input partition.

A plan is what the batch changes for one partition: its out-records (decision records,
actions, hook records, dead letters) in the order they are to be sent, and its state writes
(creator states, decided event ids, expiry schedule changes). Nothing is sent or written
here: the plans become the partition's outbox entries (pipeline/engine/outbox.py), written
durably first by the completion step (pipeline/engine/completing.py).

Duplicates are found here, whatever the creator's event rate: an `event_id` is decided once
per creator within the deduplication horizon, by (creator, event_id) keys in a store of their
own (the decided-ids table, whose changelog deletes what is older than the horizon), and by
the creator's input offsets (a redelivery).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from pipeline.adapters import metrics
from pipeline.adapters.certstore import Entry, Unreadable
from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.domain.actions import encode_action, is_enforcing
from pipeline.domain.activation import PolicyBook, version_clock
from pipeline.domain.audit import GENESIS, DecisionRecord, Source, decision_record, seal
from pipeline.domain.certifications import CertSnapshot
from pipeline.domain.decide import Decision, decide, decide_as_recorded
from pipeline.domain.errors import InvalidEvent
from pipeline.domain.events import Event, event_from_builtins, event_type
from pipeline.domain.lifecycle import utc_day
from pipeline.domain.policy import Policy
from pipeline.domain.signing import SIGNED_TYPES
from pipeline.domain.state import CreatorState, decode_state, encode_state, seen_offset
from pipeline.engine.breaker import Breaker
from pipeline.engine.decoding import Dead, Decoded, Decoder, in_event_time_order
from pipeline.engine.expiries import Change, encode_changes, schedule_changes
from pipeline.engine.idsweep import event_ts, id_value
from pipeline.engine.outbox import OutRecord, Write
from pipeline.engine.recovery import RecentDecisions

log = logging.getLogger("livegate.processor")


@functools.cache
def labelled(metric: Any, *values: str) -> Any:
    """A metric's child for these label values, looked up once (labels() costs ~5 µs)."""
    return metric.labels(*values)


class Reader(Protocol):
    def get(self, key: bytes, partition: int | None = None) -> bytes | None: ...


class DecisionHook(Protocol):
    """Called for every decision made (logging, the standing records, shadow mode)."""

    def __call__(
        self, event: Event, decision: Decision, snapshot: CertSnapshot, record: Record
    ) -> list[OutRecord]: ...


@dataclass
class Plan:
    """One input partition's share of a batch."""

    partition: int
    generation: int
    out: list[OutRecord] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)


@dataclass
class Decided:
    """A decided batch: its plans, and what is decided but not yet in the stores."""

    plans: dict[int, Plan]
    states: dict[bytes, CreatorState]
    ids: list[bytes]
    records: Sequence[Record]


def id_key(creator_key: bytes, event_id: str) -> bytes:
    """The decided-ids store's key of (creator, event_id)."""
    return creator_key + b"\x1f" + event_id.encode()


CapCounts = dict[tuple[str, str], dict[str, int]]  # (creator_id, event_id) -> rule -> count


class Decider:
    def __init__(
        self, settings: Settings, policy: Policy | PolicyBook, decoder: Decoder, states: Reader,
        ids: Reader, breaker: Breaker, clock: Callable[[], int],
    ) -> None:  # fmt: skip
        self.settings = settings
        # Every activated version (CONTRACT §10): each event is decided by the one in force
        # at its version clock. Replaced whole when new versions are read, never edited.
        self.book = policy if isinstance(policy, PolicyBook) else PolicyBook.single(policy)
        self.decoder = decoder
        self.states = states
        self.ids = ids
        self.breaker = breaker
        self.clock = clock
        self.hooks: list[DecisionHook] = []
        self.seal_key = settings.seal_key  # CONTRACT §12: every decision record is sealed
        self.heads: dict[int, str] = {}  # each decisions partition's chain head
        # Decided, not yet in the stores (their batch's entry is being written or applied).
        self.unwritten: dict[bytes, CreatorState] = {}
        self.unwritten_partition: dict[bytes, int] = {}
        self.unwritten_ids: dict[bytes, int] = {}
        # Only after an upgrade: logged decisions of the previous version's crashed worker.
        self.recent: RecentDecisions | None = None

    @property
    def policy(self) -> Policy:
        """The latest activated version."""
        return self.book.latest

    def decide_batch(
        self, good: list[Decoded], dead: list[Dead], snapshots: dict[str, Entry],
        cap_counts: CapCounts | None = None,
    ) -> Decided:  # fmt: skip
        plans: dict[int, Plan] = {}
        good = in_event_time_order(good)
        book = self.book  # one book for the whole batch

        def plan(r: Record) -> Plan:
            p = plans.get(r.partition)
            if p is None:
                p = plans[r.partition] = Plan(r.partition, r.generation)
            where = f"{r.topic}:{r.partition}"
            if r.offset > p.offsets.get(where, -1):
                p.offsets[where] = r.offset
            return p

        for r, out, error in dead:
            plan(r).out.append(out)
            metrics.DEAD_LETTERS.labels(error).inc()
        if self.recent is not None and self.recent.by_creator:
            good = self._recorded_first(good)
        states: dict[bytes, CreatorState] = {}
        ids: dict[bytes, int] = {}
        ids_at: dict[bytes, int] = {}  # when each id was decided (the local purge reads it)
        schedule: dict[bytes, list[Change]] = {}
        topics = self.settings.topics
        for r, event in good:
            p = plan(r)
            key = r.key or b""
            state = states.get(key)
            if state is None:
                state = self._stored(r, p)
            now = self.clock()
            policy = book.at(version_clock(event.ts, r.timestamp_ms))
            ik = id_key(key, event.event_id)
            seen = ids.get(ik)
            if seen is None:
                seen = self._decided_ts(ik, r.partition)
            if seen is not None and event.ts - seen <= policy.dedup_horizon_ms:
                metrics.DUPLICATES.labels(r.kind).inc()
                continue
            snapshot = snapshots[event.creator_id]
            recorded = self.recent.get(event.creator_id, event.event_id) if self.recent else None
            if recorded is not None and recorded.policy_version != policy.version:
                recorded = None
            if recorded is not None:
                # Its decision is in the log already: decide it again exactly as then.
                snapshot, now = recorded.certifications, recorded.decided_at
            if isinstance(snapshot, Unreadable):
                detail = (f"the certification table's value for this creator cannot be read "
                          f"({snapshot.key}): {snapshot.detail}; fix or remove it")  # fmt: skip
                self._reject(p, "bad_certification", detail, r, now)
                continue
            counts = cap_counts.get((event.creator_id, event.event_id)) if cap_counts else None
            try:
                where = (f"{r.topic}:{r.partition}", r.offset)
                if recorded is None:
                    decision = decide(event, snapshot, state, policy, now, where,
                                      r.timestamp_ms, counts)  # fmt: skip
                else:
                    decision = decide_as_recorded(
                        event, snapshot, state, recorded.state_before, policy, now, where,
                        r.timestamp_ms, counts,
                    )  # fmt: skip
            except Exception as exc:
                log.exception("deciding %s failed", event.event_id)
                self._reject(p, "decision_failed", repr(exc)[:500], r, now)
                continue
            if decision is None:
                metrics.DUPLICATES.labels(r.kind).inc()
                continue
            if decision.rejected is not None:  # names what the creator never had (§6)
                self._reject(p, decision.rejected.code, decision.rejected.detail, r, now)
                continue
            # Past a daily cap (or a cap left uncounted): held, like a breaker hold.
            capped = decision.held == "daily_cap" or any(c.count is None for c in decision.capped)
            held = capped or self._hold(decision, r.timestamp_ms / 1000)
            if held:  # nothing of it takes effect: no standing or queue change for the hooks
                decision = msgspec.structs.replace(decision, standing=None, queue=[])
            else:
                # Nothing irreversible while the breaker is open: no actions, no state change.
                states[key] = self.unwritten[key] = decision.new_state
                self.unwritten_partition[key] = r.partition
                ids[ik] = self.unwritten_ids[ik] = event.ts
                ids_at[ik] = now
                if decision.expiries or decision.cancelled_expiries:
                    schedule.setdefault(key, []).extend(schedule_changes(decision))
                if decision.indexed is not None:  # the platform index (CONTRACT §11, sweeps)
                    p.writes.append(Write("platforms", key, decision.indexed.encode()))
            record = self._decision_record(event, decision, r, now, held, policy.version, capped)
            value, self.heads[r.partition] = seal(record, self.heads[r.partition], self.seal_key)
            p.out.append(OutRecord(topics.decisions, key, value, r.partition))
            if decision.shadow:
                p.out.append(self._shadow_record(record, key))
            if not held:
                for action in decision.actions:
                    p.out.append(OutRecord(topics.actions, key, encode_action(action), r.partition))
                    labelled(metrics.ACTIONS, action.action, action.rule_id).inc()
            for hook in self.hooks:
                p.out.extend(hook(event, decision, snapshot, r))
            labelled(metrics.EVENTS, r.kind, decision.outcome).inc()
            metrics.LATENCY.observe(max(0, self.clock() - r.timestamp_ms) / 1000)
        partition_of = self.unwritten_partition
        for key, state in states.items():
            plans[partition_of[key]].writes.append(Write("states", key, encode_state(state)))
        for ik, ts in ids.items():
            plans[_partition_of_id(ik, partition_of)].writes.append(
                Write("ids", ik, id_value(ts, ids_at[ik]))
            )
        for key, changes in schedule.items():
            plans[partition_of[key]].writes.append(Write("schedule", key, encode_changes(changes)))
        return Decided(plans, states, list(ids), [r for r, _ in good] + [r for r, _, _ in dead])

    def written(self, batch: Decided) -> None:
        """The batch's states and ids are in the stores: stop serving them from memory."""
        unwritten, partition_of, unwritten_ids = (
            self.unwritten, self.unwritten_partition, self.unwritten_ids,
        )  # fmt: skip
        for key, state in batch.states.items():
            if unwritten.get(key) is state:
                del unwritten[key]
                partition_of.pop(key, None)
        for ik in batch.ids:
            unwritten_ids.pop(ik, None)

    def forget(self, partitions: set[int]) -> None:
        """Drop what was decided but not written for partitions this worker lost."""
        for key in [k for k, p in self.unwritten_partition.items() if p in partitions]:
            self.unwritten.pop(key, None)
            del self.unwritten_partition[key]
        for p in partitions:
            self.heads.pop(p, None)

    def _reject(self, p: Plan, code: str, detail: str, r: Record, now: int) -> None:
        p.out.append(self.decoder.dead(code, detail, r, now))
        metrics.DEAD_LETTERS.labels(code).inc()

    def _decided_ts(self, ik: bytes, partition: int) -> int | None:
        ts = self.unwritten_ids.get(ik)
        if ts is not None:
            return ts
        raw = self.ids.get(ik, partition)
        return None if raw is None else event_ts(raw)

    def _stored(self, r: Record, p: Plan) -> CreatorState | None:
        """The record's creator's state: decided but not written yet, else the store's.

        A state written before the decided-ids store kept its decided event ids itself
        (a set bounded by count): they move to the store with this batch."""
        key = r.key or b""
        state = self.unwritten.get(key)
        if state is not None:
            return state
        raw = self.states.get(key, r.partition)  # co-partitioned: the key's partition
        if raw is None:
            return None
        state = decode_state(raw)
        if state.decided:
            for event_id, ts in state.decided.items():
                ik = id_key(key, event_id)
                if self._decided_ts(ik, r.partition) is None:
                    self.unwritten_ids[ik] = ts
                    p.writes.append(Write("ids", ik, str(ts).encode()))
        return state

    def _recorded_first(self, good: list[Decoded]) -> list[Decoded]:
        """Only after an upgrade from a version without the outbox: before a creator's
        first event, the decisions of the log's recent tail that its stored state does not
        know (decided by a worker of the previous version that stopped before writing the
        state), decided again as recorded, so its other events are decided on a state that
        has them. Each is emitted again identically (its actions may not all have been
        delivered), and when its own record comes back it is a duplicate."""
        recent = self.recent
        assert recent is not None
        out: list[Decoded] = []
        for r, event in good:
            entries = recent.take(event.creator_id)
            raw = self.states.get(r.key or b"", r.partition) if entries else None
            state = decode_state(raw) if raw is not None else None
            if entries and r.key in self.unwritten:
                state = self.unwritten[r.key or b""]
            for e in entries:
                if (e.source is None or e.event_id == event.event_id  # itself: where it stands
                        or not self.book.has(e.policy_version)):  # fmt: skip
                    continue
                if state is not None and (
                    seen_offset(state, e.source) or e.event_id in state.decided
                ):
                    continue
                try:
                    kind, again = event_from_builtins(e.event)
                except InvalidEvent:
                    continue
                where, offset = e.source
                topic, _, partition = where.rpartition(":")
                out.append((Record(topic, int(partition), offset, r.key, None, again.ts, kind,
                                   r.generation), again))  # fmt: skip
            out.append((r, event))
        return out

    def _hold(self, decision: Decision, at: float) -> bool:
        enforcing = sum(is_enforcing(a.action) for a in decision.actions)
        was_open = self.breaker.is_open
        held = self.breaker.record(enforcing, at)
        if self.breaker.is_open != was_open:
            metrics.BREAKER_OPEN.set(int(self.breaker.is_open))
            window, normal = self.breaker.rates(self.breaker.latest)
            if self.breaker.is_open:
                log.critical(
                    "circuit breaker OPEN: %d enforcing actions in the last %ds of traffic "
                    "against a normal %.1f; holding enforcement actions (decisions go on, "
                    "marked held) until the rate falls; check the certification table and "
                    "the policy",
                    window, self.breaker.c.window_s, normal,
                )  # fmt: skip
            else:
                log.warning("circuit breaker closed: enforcement actions flow again")
        if held:
            metrics.HELD.inc(len(decision.actions))
        return held

    def _decision_record(
        self, event: Event, d: Decision, r: Record, now: int, held: bool, version: str,
        capped: bool = False,
    ) -> DecisionRecord:  # fmt: skip
        source = Source(r.topic, r.partition, r.offset)
        extra = trust_fields(event, r)
        extra["platform"] = d.platform  # CONTRACT §11: the decision records its platform
        if d.migration is not None:
            extra["platform_migration"] = msgspec.to_builtins(d.migration)
        if d.shadow:
            extra["shadow"] = [{"rule_id": s.rule_id, "actions": msgspec.to_builtins(s.actions)}
                               for s in d.shadow]  # fmt: skip
            for s in d.shadow:
                labelled(metrics.SHADOW_RULE_DISAGREEMENTS, s.rule_id).inc()
        if not held:
            return decision_record(event, d, version, now, source, **extra)
        held_actions = [msgspec.to_builtins(a) for a in d.actions]
        if capped:
            counts = [c.count for c in d.capped if c.count is None or c.count > c.cap]
            extra["cap_count"] = None if None in counts or not counts else max(counts)  # type: ignore[type-var]
            for c in d.capped:
                labelled(metrics.CAP_HELD, c.rule_id).inc()
        return decision_record(event, d, version, now, source, held="daily_cap" if capped
                               else True, held_actions=held_actions, **extra)  # fmt: skip

    def _shadow_record(self, record: DecisionRecord, key: bytes) -> OutRecord:
        """The decision record on `enforcement.shadow` with `mode: "shadow"` (CONTRACT §10);
        sealed on its own (no chain), like the whole-policy shadow's records."""
        value, _ = seal(msgspec.structs.replace(record, mode="shadow"), GENESIS, self.seal_key)
        return OutRecord(self.settings.topics.shadow, key, value)

    def cap_needs(
        self, good: list[Decoded], snapshots: dict[str, Entry], counts: CapCounts
    ) -> list[tuple[str, str, str, str, str]]:
        """A dry run of the batch (nothing kept): the (creator_id, event_id, rule_id,
        platform, day) of each capped rule that would enforce and has no count yet."""
        book = self.book
        states: dict[bytes, CreatorState | None] = {}
        needs: list[tuple[str, str, str, str, str]] = []
        for r, event in good:
            key = r.key or b""
            if key not in states:
                state = self.unwritten.get(key)
                raw = self.states.get(key, r.partition) if state is None else None
                states[key] = decode_state(raw) if raw is not None else state
            snapshot = snapshots.get(event.creator_id)
            if isinstance(snapshot, Unreadable) or snapshot is None:
                continue
            policy = book.at(version_clock(event.ts, r.timestamp_ms))
            given = counts.get((event.creator_id, event.event_id))
            try:
                d = decide(event, snapshot, states[key], policy, self.clock(), None,
                           r.timestamp_ms, given)  # fmt: skip
            except Exception:
                continue  # decide_batch reports it
            if d is None or d.rejected is not None:
                continue
            missing = [c for c in d.capped if c.count is None]
            for c in missing:
                platform = cap_platform(policy, d.platform)
                needs.append((event.creator_id, event.event_id, c.rule_id, platform,
                              utc_day(event.ts)))  # fmt: skip
            if not missing and d.held is None:
                states[key] = d.new_state
        return needs


def cap_platform(policy: Policy, platform: str) -> str:
    """The platform a daily cap counts under: creators of unknown platforms count as
    `default` (CONTRACT §10), so the keys stay a small set."""
    known = getattr(policy, "platforms", None) or ()
    return platform if platform in known else "default"


SIGNED_KEPT = 16_384  # bytes of a signed event kept in its decision record


def trust_fields(event: Event, r: Record) -> dict[str, Any]:
    """CONTRACT §12's additions to a decision record: the input record's Kafka timestamp
    (the appeal window runs to it) and a signed event as received (replays check it)."""
    extra: dict[str, Any] = {}
    if r.timestamp_ms >= 0:
        extra["record_ts"] = r.timestamp_ms
    # Bounded, so no decision record passes 256 KB: a larger signed event (its fields beyond
    # the schema's) is checked by the worker but not again by replays.
    if r.value is not None and event_type(event) in SIGNED_TYPES and len(r.value) <= SIGNED_KEPT:
        extra["signed"] = bytes(r.value).decode("utf-8")
    return extra


def _partition_of_id(ik: bytes, partition_of: dict[bytes, int]) -> int:
    return partition_of[ik.split(b"\x1f", 1)[0]]
