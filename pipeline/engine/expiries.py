"""Scheduled expiry checks: a qualification that a live stream relies on ends at valid_until.

The schedule is kept in a Faust table (creator -> pending checks), so it survives restarts
and moves with the partition. A timer finds the checks that are due and produces an
`expiry_due` event for each, keyed by creator, to an internal topic; the expiries agent
decides it like any other event, so replays see it too. Event ids are deterministic: a
check emitted twice (by two workers during a rebalance, or after a crash) is decided once.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol

import msgspec
from aiokafka.partitioner import murmur2

from pipeline.domain.expiries import Expiry

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[Expiry]).decode


class Writer(Protocol):
    """The schedule table's changelogged store (agents/runtime.py TableStates)."""

    data: Any

    async def set(self, key: bytes, value: bytes | None, partition: int) -> Awaitable[Any]: ...


def expiry_check_id(e: Expiry) -> str:
    """A valid event id (CONTRACT §2: `[A-Za-z0-9._:-]{1,128}`) for any stream id.

    A stream id may be any 1-256 characters (`room/1`, `直播间1`), so it is hashed, with the
    domain and time, rather than spelled out; domain and time stay readable in front.
    """
    digest = hashlib.sha256(f"{e.domain}\x1f{e.at_ms}\x1f{e.stream_id}".encode()).hexdigest()
    return f"expiry:{e.domain}:{e.at_ms}:{digest[:40]}"


def expiry_event(creator_id: str, e: Expiry) -> tuple[str, bytes]:
    event_id = expiry_check_id(e)
    value = {"event_id": event_id, "type": "expiry_due", "ts": e.at_ms,
             "creator_id": creator_id, "domain": e.domain, "stream_id": e.stream_id}  # fmt: skip
    return event_id, json.dumps(value).encode()


class Cancelled(msgspec.Struct, frozen=True, gc=False):
    """A schedule change: the stream is no longer live, its pending checks can go."""

    stream_id: str


Change = Expiry | Cancelled


def schedule_changes(decision: Any) -> list[Change]:
    """A decision's changes to its creator's schedule, in order: checks of streams no
    longer live go, new checks come (the two never name the same stream)."""
    return [*map(Cancelled, decision.cancelled_expiries), *decision.expiries]


_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(list[tuple[str, Any, Any, Any]]).decode


def encode_changes(changes: Iterable[Change]) -> bytes:
    """A creator's schedule changes as an outbox write (applied idempotently: `add`)."""
    return _pack([("c", c.stream_id, None, None) if isinstance(c, Cancelled)
                  else ("e", c.domain, c.stream_id, c.at_ms) for c in changes])  # fmt: skip


def decode_changes(raw: bytes) -> list[Change]:
    return [Cancelled(a) if kind == "c" else Expiry(domain=a, stream_id=b, at_ms=c)
            for kind, a, b, c in _unpack(raw)]  # fmt: skip


class ExpirySchedule:
    """creator -> pending checks. Writes go through the changelogged store and return their
    deliveries, so a batch is acked only once its checks are durable (processor.py).

    Beside the table, an in-memory heap of (at_ms, creator) makes a tick cost what is due,
    not what is stored. The heap is an index of candidates, the table the truth: a popped
    key is read again from the table, so a stale heap entry (a check done or cancelled, a
    key of a partition this worker lost) costs one lookup and is dropped. It is rebuilt
    from the table when a rebalance's partitions are restored (`rebuild`) and on first use.
    """

    def __init__(self, store: Writer, partitions: int) -> None:
        self.store = store
        self.partitions = partitions
        self.heap: list[tuple[int, bytes]] = []
        self.built = False

    def partition_of(self, key: bytes) -> int:
        # The input topics' partitioner (murmur2): a creator's checks live in the changelog
        # partition of the input partition its events come from.
        return (murmur2(key) & 0x7FFFFFFF) % self.partitions

    def rebuild(self) -> None:
        data = self.store.data
        heap = [(e.at_ms, key) for key, raw in list(data.items()) if raw for e in _decode(raw)]
        heapq.heapify(heap)
        self.heap, self.built = heap, True

    async def add(self, key: bytes, changes: Iterable[Change]) -> list[Awaitable[Any]]:
        """Apply one creator's changes in order: new checks (Expiry) and streams no longer
        live (Cancelled), whose checks are removed. Returns the write's delivery, if any."""
        raw = self.store.data.get(key)
        current = _decode(raw) if raw else []
        entries = dict.fromkeys(current)
        for change in changes:
            if isinstance(change, Cancelled):
                for e in [e for e in entries if e.stream_id == change.stream_id]:
                    del entries[e]
            else:
                entries[change] = None
        if set(entries) == set(current):
            return []
        if not entries:
            return [await self.store.set(key, None, self.partition_of(key))]
        ordered = sorted(entries, key=lambda e: (e.at_ms, e.domain, e.stream_id or ""))
        delivery = await self.store.set(key, _encode(ordered), self.partition_of(key))
        if self.built:
            for e in entries.keys() - set(current):
                heapq.heappush(self.heap, (e.at_ms, key))
        return [delivery]

    def due(self, now_ms: int) -> list[tuple[bytes, Expiry]]:
        """The checks due at now_ms. They stay scheduled (and indexed) until `done`."""
        if not self.built:
            self.rebuild()
        heap = self.heap
        keys: dict[bytes, None] = {}
        while heap and heap[0][0] <= now_ms:
            keys[heapq.heappop(heap)[1]] = None
        out = []
        for key in keys:
            raw = self.store.data.get(key)
            if not raw:
                continue  # done, cancelled, or no longer this worker's
            for e in _decode(raw):
                if e.at_ms <= now_ms:
                    out.append((key, e))
                    heapq.heappush(heap, (e.at_ms, key))  # until done: retried next tick
        return out

    async def done(self, key: bytes, emitted: Iterable[Expiry]) -> list[Awaitable[Any]]:
        raw = self.store.data.get(key)
        if not raw:
            return []
        sent = set(emitted)
        left = [e for e in _decode(raw) if e not in sent]
        value = _encode(left) if left else None
        return [await self.store.set(key, value, self.partition_of(key))]
