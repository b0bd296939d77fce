"""Scheduled expiry checks: a qualification that a live stream relies on ends at valid_until.

The schedule is kept in a Faust table (creator -> pending checks), so it survives restarts
and moves with the partition. A timer finds the checks that are due and produces an
`expiry_due` event for each, keyed by creator, to an internal topic; the expiries agent
decides it like any other event, so replays see it too. Event ids are deterministic: a
check emitted twice (by two workers during a rebalance, or after a crash) is decided once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterable
from typing import Any, Protocol

import msgspec
from aiokafka.partitioner import murmur2

from pipeline.domain.expiries import Expiry

_NEVER = 1 << 62
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[Expiry]).decode


class Writer(Protocol):
    """The schedule table's changelogged store (agents/runtime.py TableStates)."""

    data: Any

    async def set(self, key: bytes, value: bytes | None, partition: int) -> Awaitable[Any]: ...


def expiry_event(creator_id: str, e: Expiry) -> tuple[str, bytes]:
    event_id = f"expiry:{e.domain}:{e.at_ms}:{e.stream_id}"[:128]
    value = {"event_id": event_id, "type": "expiry_due", "ts": e.at_ms,
             "creator_id": creator_id, "domain": e.domain, "stream_id": e.stream_id}  # fmt: skip
    return event_id, json.dumps(value).encode()


class ExpirySchedule:
    """creator -> pending checks. Writes go through the changelogged store and return their
    deliveries, so a batch is acked only once its checks are durable (processor.py).

    The timer asks `due` twice a second; the table is scanned only once something can be
    due: `next_ms` is a time before which nothing is (0: unknown, after a restore or a
    rebalance brought entries in that `add` never saw, see `rescan`).
    """

    def __init__(self, store: Writer, partitions: int) -> None:
        self.store = store
        self.partitions = partitions
        self.next_ms = 0

    def rescan(self) -> None:
        """Entries may have come in from elsewhere (changelog recovery): scan next time."""
        self.next_ms = 0

    def partition_of(self, key: bytes) -> int:
        # The input topics' partitioner (murmur2): a creator's checks live in the changelog
        # partition of the input partition its events come from.
        return (murmur2(key) & 0x7FFFFFFF) % self.partitions

    async def add(self, key: bytes, expiries: Iterable[Expiry]) -> list[Awaitable[Any]]:
        raw = self.store.data.get(key)
        current = set(_decode(raw)) if raw else set()
        merged = current | set(expiries)
        if merged == current:
            return []
        value = _encode(sorted(merged, key=lambda e: e.at_ms))
        self.next_ms = min(self.next_ms, min(e.at_ms for e in merged))
        return [await self.store.set(key, value, self.partition_of(key))]

    def due(self, now_ms: int) -> list[tuple[bytes, Expiry]]:
        if now_ms < self.next_ms:
            return []
        out = []
        earliest = _NEVER
        for key, raw in list(self.store.data.items()):
            for e in _decode(raw):
                earliest = min(earliest, e.at_ms)
                if e.at_ms <= now_ms:
                    out.append((key, e))
        # Due entries stay until `done` removes them, so an emission that failed is retried.
        self.next_ms = earliest
        return out

    async def done(self, key: bytes, emitted: Iterable[Expiry]) -> list[Awaitable[Any]]:
        raw = self.store.data.get(key)
        if not raw:
            return []
        sent = set(emitted)
        left = [e for e in _decode(raw) if e not in sent]
        value = _encode(left) if left else None
        return [await self.store.set(key, value, self.partition_of(key))]
