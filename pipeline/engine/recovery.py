"""Decisions already in the log that the creator state may not know yet: the upgrade path.

A worker of this version finishes a crashed predecessor's work from the partition's outbox
(engine/outbox.py) and reads nothing from the log. A worker of the previous version had no
outbox: it wrote states after their decisions were in the log, so a crash or a fence between
the two left decisions whose events come back undecided. The first worker of this version to
take such a partition (it has no outbox yet) reads this tail once, and only records whose
hash verifies count. Such an event must get exactly the decision already recorded
(CONTRACT v2 §2), not one made again with the certifications and clock of now: an event
found in the tail (the window covers what the previous version could have in flight) is
decided again with the recorded certifications and `decided_at`: `decide` is a pure
function, so from the same state it gives the same decision, ids and content alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.adapters import kafka
from pipeline.adapters.times import now_ms
from pipeline.domain.certifications import Certification, CertSnapshot
from pipeline.domain.signing import FOREIGN, SEALED
from pipeline.domain.state import Source
from pipeline.engine.decisionlog import record_status, seal_keys


@dataclass(frozen=True, slots=True)
class Recorded:
    certifications: CertSnapshot
    decided_at: int
    policy_version: str
    state_before: dict[str, Any] = field(default_factory=dict)
    event_id: str = ""
    event: dict[str, Any] = field(default_factory=dict)  # as recorded (event_to_builtins)
    source: Source | None = None  # the input record decided: ("topic:partition", offset)


class _Source(msgspec.Struct, gc=False):
    topic: str
    partition: int
    offset: int


class _Tail(msgspec.Struct, gc=False):
    creator_id: str
    event_id: str
    certifications: dict[str, Certification]
    decided_at: int
    policy_version: str
    held: bool = False
    state_before: dict[str, Any] = {}
    event: dict[str, Any] = {}
    source: _Source | None = None


_decode = msgspec.json.Decoder(_Tail).decode


class RecentDecisions:
    def __init__(
        self, where: kafka.Target, topic: str, window_ms: int = 120_000,
        clock: Callable[[], int] = now_ms,
    ) -> None:  # fmt: skip
        self.where = where
        self.topic = topic
        self.window_ms = window_ms
        self.clock = clock
        self.keys = seal_keys(where)
        self.loaded: set[int] = set()
        self.index: dict[tuple[str, str], Recorded] = {}
        # By creator, in log order: what a state read from the table may not know yet.
        self.by_creator: dict[str, list[Recorded]] = {}

    def forget(self) -> None:
        """After a rebalance another worker may have decided: read the tails again."""
        self.loaded.clear()
        self.index.clear()
        self.by_creator.clear()

    def get(self, creator_id: str, event_id: str) -> Recorded | None:
        return self.index.get((creator_id, event_id))

    def take(self, creator_id: str) -> list[Recorded]:
        """The creator's recorded decisions, in log order, once (the first time its state
        is read after an assignment: the processor decides again, first, those the state
        does not know, so that its other events are decided on a state that has them)."""
        if not self.by_creator:
            return []
        return self.by_creator.pop(creator_id, [])

    async def ensure(self, partitions: set[int]) -> None:
        missing = sorted(p for p in partitions if p not in self.loaded)
        if not missing:
            return
        for key, recorded in (await self._read(missing)).items():
            self.index[key] = recorded
            self.by_creator.setdefault(key[0], []).append(recorded)
        self.loaded.update(missing)

    async def _read(self, partitions: list[int]) -> dict[tuple[str, str], Recorded]:
        bootstrap, security = kafka.target(self.where)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
            isolation_level="read_uncommitted", **security,
        )  # fmt: skip
        await consumer.start()
        found: dict[tuple[str, str], Recorded] = {}
        try:
            tps = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            since = self.clock() - self.window_ms
            starts = await consumer.offsets_for_times({tp: since for tp in tps})
            remaining = set()
            sealed_seen: set[int] = set()  # partitions where a sealed record was read
            for tp in tps:
                start = starts.get(tp)
                if start is not None and start.offset < ends[tp]:
                    consumer.seek(tp, start.offset)
                    remaining.add(tp)
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=2000, max_records=10_000)
                if not batch:
                    break  # nothing more arrives within the timeout: what was read is the tail
                for tp, records in batch.items():
                    for r in records:
                        self._add(found, r.value, sealed_seen, tp.partition)
                        if r.offset + 1 >= ends[tp]:
                            remaining.discard(tp)
        finally:
            await consumer.stop()
        return found

    def _add(
        self, found: dict[tuple[str, str], Recorded], value: bytes | None, sealed_seen: set[int],
        partition: int,
    ) -> None:  # fmt: skip
        digest, status = record_status(value, self.keys)
        if digest is None or status == FOREIGN:
            return  # not a record LiveGate sealed (another producer's): nothing to re-apply
        if status == SEALED:
            sealed_seen.add(partition)
        elif partition in sealed_seen:
            return  # unsealed after a sealed one: not the previous version's, a foreign one
        try:
            d = _decode(value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if not d.held:  # a held decision changed nothing: its event is decided afresh
            src = d.source
            found[(d.creator_id, d.event_id)] = Recorded(
                d.certifications, d.decided_at, d.policy_version, d.state_before, d.event_id,
                d.event, None if src is None else (f"{src.topic}:{src.partition}", src.offset),
            )  # fmt: skip
