"""The decided-ids store's local purge: ids decided longer ago than the horizon and a day.

The `decided-ids` changelog is `compact,delete` with a retention of the dedupe horizon plus a
day, so the broker forgets an id by then; the worker's local store (RocksDB, or memory)
would keep every id it ever wrote, some 86 million keys a day at 1,000 events/s. Every
SWEEP_INTERVAL_S the worker walks each owned partition's local store in slices of SLICE
keys (yielding to the event loop between slices) and drops the ids whose decision is older
than that: locally only, as the changelog's retention does (a tombstone would only add
records). A store restored from the changelog holds what its retention kept: the same ids.

An id's value is `ts` and, since issue 21, `ts decided_at` (both ms): the decision time
decides, so an event decided long after its `ts` (a late event) is still a duplicate for
the horizon after its decision; a value without it (written by an earlier version) is
judged by its `ts`, the older of the two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

log = logging.getLogger("livegate.idsweep")
SWEEP_INTERVAL_S = 3600.0
SLICE = 5000
DAY_MS = 86_400_000


def id_value(ts: int, decided_at: int) -> bytes:
    return b"%d %d" % (ts, decided_at)


def event_ts(value: bytes) -> int | None:
    """The decided event's `ts` from a stored value (None: unreadable)."""
    try:
        return int(value.split(b" ", 1)[0])
    except ValueError:
        return None


def decided_at(value: bytes) -> int | None:
    """When the id was decided (its `ts` for a value of an earlier version)."""
    parts = value.split(b" ", 1)
    try:
        return int(parts[1] if len(parts) == 2 else parts[0])
    except ValueError:
        return None


class Sweepable(Protocol):
    """A store whose local keys can be read in slices and dropped without a changelog record."""

    def scan(
        self, partition: int, after: bytes | None, limit: int
    ) -> list[tuple[bytes, bytes]]: ...
    def drop(self, keys: list[bytes], partition: int) -> None: ...


async def purge(
    store: Sweepable, partitions: Iterable[int], before_ms: int, slice_size: int = SLICE
) -> int:
    """Drop the ids decided before `before_ms` from the partitions' local stores; how many.
    An unreadable value is left alone (the dedupe treats it as never decided anyway)."""
    dropped = 0
    for partition in sorted(partitions):
        after: bytes | None = None
        while True:
            items = store.scan(partition, after, slice_size)
            if not items:
                break
            old = [k for k, v in items if (t := decided_at(v)) is not None and t < before_ms]
            if old:
                store.drop(old, partition)
                dropped += len(old)
            after = items[-1][0]
            await asyncio.sleep(0)  # a slice at a time: deciding goes on between them
            if len(items) < slice_size:
                break
    return dropped


def horizon_cutoff(now_ms: int, horizon_ms: int) -> int:
    """Ids decided before this are past the changelog's retention (the horizon and a day)."""
    return now_ms - horizon_ms - DAY_MS
