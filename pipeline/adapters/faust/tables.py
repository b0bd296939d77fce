"""Faust's tables as LiveGate's state stores, and the aiokafka producer under Faust's.

Part of the one door to Faust's internals (pipeline/adapters/faust/): every private name
used here is listed in privates.py, which the canary test and the worker's start check.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
from collections.abc import Awaitable, Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from faust.stores.rocksdb import Store as RocksStore
from rocksdict import WriteBatch

from pipeline.adapters.batchsend import BatchSend


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The aiokafka producer under Faust's.

    LiveGate sends through it directly: the same client and connection, without Faust's
    per-send wrapper, buffer and sensor calls (the largest per-event cost in the profile).
    Faust exposes it only through the private `_ensure_producer()`; every use sits here.
    """
    return app.producer._ensure_producer()  # type: ignore[attr-defined, no-any-return]


class TableStates:
    """The Faust table as the processor's state store (bytes keys and values).

    Writes go to the table's store and, through the worker's sender directly, to its
    changelog partition (the input record's partition: co-partitioned), which is what
    Faust's own `table[key] = value` does, minus its per-write buffer and bookkeeping —
    the largest per-event cost in the profile. Faust restores the table from the same
    changelog records on recovery.

    With the RocksDB store (LIVEGATE_STORE=rocksdb://) values go straight to the partition's
    database, as the raw changelog bytes Faust's own recovery writes there, and each
    delivered changelog offset is persisted beside them, as Faust does for its own writes:
    a restarted worker then reads only the changelog written since, not all of it.
    """

    def __init__(self, table: faust.Table, batches: BatchSend) -> None:
        self.table = table
        self.data = table.data
        # What sends the changelog records: the worker's one sender (agents/app.py), so a
        # partition's writes, the outbox's entries and claims among them, keep their order.
        self.batches = batches
        self.topic = table.changelog_topic.get_topic_name()
        self.rocks: RocksStore | None = self.data if isinstance(self.data, RocksStore) else None
        # Keys written here, by partition: Faust forgets a lost partition's keys only when
        # it restored them, so the ones written live are forgotten here (`forget`).
        self.written: dict[int, set[bytes]] = {}
        self._pass: list[bytes] = []  # the memory store's keys of a `scan` pass

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        """The key's value; `partition` (the key's, when known) reads only its database."""
        if self.rocks is None:
            value: bytes | None = self.data.get(key)
            return value
        dbs = self.rocks._dbs  # those of the partitions this worker holds (Faust opens them)
        if partition is not None:
            db = dbs.get(partition)
            return None if db is None else db.get(key)
        for db in list(dbs.values()):  # a key lives in one partition's database only
            found: bytes | None = db.get(key)
            if found is not None:
                return found
        return None

    async def set(self, key: bytes, value: bytes | None, partition: int) -> Awaitable[Any]:
        """Write (None: delete) the key; returns the changelog record's delivery."""
        return (await self.set_many([(key, value, partition)]))[0]

    async def set_many(self, writes: list[tuple[bytes, bytes | None, int]]) -> list[Awaitable[Any]]:
        """`set` for a batch's writes (key, value or None, partition): the changelog records
        in one produce call per partition (pipeline/adapters/batchsend.py); with RocksDB,
        one write batch per partition, and one persisted changelog offset per partition (the
        offset its last delivery reports: librdkafka's the batch's last record's, aiokafka's
        its first's; Faust's recovery reads on from there, and writing a few records again
        is harmless; a failed delivery stops the worker)."""
        rocks = self.rocks
        self._write_local(writes, track=True)
        topic = self.topic
        sent = await self.batches.send_many((topic, k, v, p) for k, v, p in writes)
        if rocks is not None:
            last = {partition: delivery for _, partition, delivery in sent}
            for partition, delivered in last.items():
                delivered.add_done_callback(  # type: ignore[attr-defined]
                    functools.partial(_persist_offset, rocks, partition)
                )
        return [delivery for _, _, delivery in sent]

    def _write_local(self, writes: list[tuple[bytes, bytes | None, int]], track: bool) -> None:
        """The writes (None: delete) to the local store: memory (keys written live tracked by
        partition when `track`), or one RocksDB write batch per partition."""
        rocks = self.rocks
        if rocks is None:
            data, written = self.data, self.written
            for key, value, partition in writes:
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
                if track:
                    keys = written.get(partition)
                    if keys is None:
                        keys = written[partition] = set()
                    keys.add(key)
            return
        batches: dict[int, WriteBatch] = {}
        for key, value, partition in writes:
            wb = batches.get(partition)
            if wb is None:
                wb = batches[partition] = WriteBatch(raw_mode=True)
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        for partition, wb in batches.items():
            db = rocks._dbs.get(partition)
            if db is not None:  # None: revoked meanwhile; its new owner restores it
                db.write(wb)

    def scan(self, partition: int, after: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` of the partition's local (key, value)s after the key `after`, in key
        order (RocksDB); with the memory store, which does not know the partitions of keys
        it restored, all keys in one pass, in slices, whatever `partition` (use one)."""
        rocks = self.rocks
        if rocks is None:
            if after is None:
                self._pass = sorted(self.data.keys())
            keys = self._pass
            start = 0 if after is None else bisect.bisect_right(keys, after)
            data = self.data
            return [(k, data[k]) for k in keys[start : start + limit] if k in data]
        db = rocks._dbs.get(partition)
        if db is None:
            return []
        out: list[tuple[bytes, bytes]] = []
        skip, offset_key = after, rocks.offset_key
        for key, value in db.items(from_key=after) if after is not None else db.items():
            if key == skip:
                skip = None
                continue
            if key != offset_key:
                out.append((key, value))
                if len(out) >= limit:
                    break
        return out

    def drop(self, keys: list[bytes], partition: int) -> None:
        """Delete keys from the local store only (no changelog record): what the changelog's
        own retention deletes in the broker."""
        self._write_local([(key, None, partition) for key in keys], track=False)

    @property
    def partitioned(self) -> bool:
        """Whether `scan` reads one partition's keys (RocksDB) or all of them (memory)."""
        return self.rocks is not None

    def forget(self, partitions: Iterable[int]) -> int:
        """Drop the keys of partitions this worker lost; returns how many.

        RocksDB: nothing to drop. Faust closes a lost partition's database (its keys are no
        longer read), and when the partition comes back it reads the changelog from the
        offset the database holds, so what its other owner wrote meanwhile is applied.
        """
        dropped = 0
        for partition in partitions:
            for key in self.written.pop(partition, ()):
                if self.data.pop(key, None) is not None:
                    dropped += 1
        return dropped


def _persist_offset(rocks: RocksStore, partition: int, delivered: asyncio.Future[Any]) -> None:
    """The changelog offset a RocksDB partition holds the data up to (Faust's own key)."""
    if delivered.cancelled() or delivered.exception() is not None:
        return
    db = rocks._dbs.get(partition)
    if db is not None:
        db.put(rocks.offset_key, str(delivered.result().offset).encode())
