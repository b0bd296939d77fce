"""What the agents share (the Runtime), and the one way an agent hands records to the engine."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from faust.stores.rocksdb import Store as RocksStore
from faust.types import TP, EventT, StreamT, TopicT
from rocksdict import WriteBatch

from pipeline.adapters import metrics
from pipeline.adapters.certstore import CertStore
from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.domain.policy import Policy
from pipeline.engine.batcher import Batcher
from pipeline.engine.expiries import ExpirySchedule
from pipeline.engine.processor import Processor, fatal


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The aiokafka producer under Faust's.

    LiveGate sends through it directly: the same client and connection, without Faust's
    per-send wrapper, buffer and sensor calls (the largest per-event cost in the profile).
    Faust exposes it only through the private `_ensure_producer()`; every use sits here.
    """
    return app.producer._ensure_producer()  # type: ignore[attr-defined, no-any-return]


class TableStates:
    """The Faust table as the processor's state store (bytes keys and values).

    Writes go to the table's store and, through the aiokafka producer directly, to its
    changelog partition (the input record's partition: co-partitioned), which is what
    Faust's own `table[key] = value` does, minus its per-write buffer and bookkeeping —
    the largest per-event cost in the profile. Faust restores the table from the same
    changelog records on recovery.

    With the RocksDB store (LIVEGATE_STORE=rocksdb://) values go straight to the partition's
    database, as the raw changelog bytes Faust's own recovery writes there, and each
    delivered changelog offset is persisted beside them, as Faust does for its own writes:
    a restarted worker then reads only the changelog written since, not all of it.
    """

    def __init__(self, table: faust.Table, producer: Callable[[], AIOKafkaProducer]) -> None:
        self.table = table
        self.data = table.data
        self.producer = producer
        self.topic = table.changelog_topic.get_topic_name()
        self.rocks: RocksStore | None = self.data if isinstance(self.data, RocksStore) else None
        # Keys written here, by partition: Faust forgets a lost partition's keys only when
        # it restored them, so the ones written live are forgotten here (`forget`).
        self.written: dict[int, set[bytes]] = {}

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
        rocks = self.rocks
        if rocks is None:
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
            self.written.setdefault(partition, set()).add(key)
            return await self.producer().send(self.topic, value, key=key, partition=partition)
        return (await self.set_many([(key, value, partition)]))[0]

    async def set_many(self, writes: list[tuple[bytes, bytes | None, int]]) -> list[Awaitable[Any]]:
        """`set` for a batch's writes (key, value or None, partition): with RocksDB, one
        write batch per partition, and one persisted changelog offset per partition (its
        last record's: a partition's records are delivered in order, and a failed one stops
        the worker)."""
        rocks = self.rocks
        if rocks is None:
            return [await self.set(key, value, partition) for key, value, partition in writes]
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
            if db is not None:  # None: revoked meanwhile; its new owner restores the changelog
                db.write(wb)
        send, topic = self.producer().send, self.topic
        deliveries = [await send(topic, value, key=key, partition=p) for key, value, p in writes]
        last = {partition: d for (_, _, partition), d in zip(writes, deliveries, strict=True)}
        for partition, delivered in last.items():
            delivered.add_done_callback(functools.partial(_persist_offset, rocks, partition))
        return deliveries

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


class Fence:
    """Which records are still this worker's to decide and ack.

    A record is fetched in a consumer generation (`message.generation_id`); a partition has
    been this worker's without a break since some generation. A record is this worker's
    when its partition still is and was already then: a partition that moved to another
    worker and back may have been decided there meanwhile. While a rebalance is under way
    nobody can tell, so the processor waits for it to settle (`settled`) before it decides
    or writes. A record that is not this worker's is dropped unacked: its partition's owner
    reads it again from the committed offset.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.since: dict[tuple[str, int], int] = {}  # (topic, partition) -> generation
        self.rebalancing = True  # until the first assignment
        started = app.on_rebalance_start

        def on_rebalance_start() -> None:
            # Faust calls this first thing in the consumer's revocation callback (from the
            # consumer's thread, before anything is revoked); it has no signal of its own,
            # hence the wrapper.
            self.rebalancing = True
            started()

        app.on_rebalance_start = on_rebalance_start  # type: ignore[method-assign]

    def assigned(self, tps: Iterable[Any]) -> None:
        """The new assignment (Faust's on_partitions_assigned signal, in the main loop)."""
        generation = self.app.consumer_generation_id
        kept = self.since
        self.since = {
            (tp.topic, tp.partition): kept.get((tp.topic, tp.partition), generation) for tp in tps
        }
        self.rebalancing = False

    async def settled(self) -> None:
        # The flag is set from the consumer's thread: look at it, not at an asyncio Event.
        while self.rebalancing:
            await asyncio.sleep(0.05)

    def owns(self, record: Record) -> bool:
        since = self.since.get((record.topic, record.partition))
        return since is not None and since <= record.generation


@dataclass
class Runtime:
    """What the agents share: settings, the processor, the stores and the expiry topic."""

    settings: Settings
    policy: Policy
    processor: Processor
    store: CertStore
    states: TableStates
    schedule: ExpirySchedule
    expiries_topic: TopicT
    fence: Fence
    # A partition's highwater (the consumer's, from its last fetch), None if not known.
    highwater: Callable[[Any], int | None] = lambda tp: None
    batcher: Batcher[Record] = field(init=False)
    # Records waiting at the broker behind the last batch (its partitions' lag).
    waiting: int = 0
    # The input topics' kinds, by topic name (each batch agent's): the consumer hands
    # their records to the batcher in bulk (pipeline/engine/fetching.py).
    kinds: dict[str, str] = field(default_factory=dict)
    # Marks decided records acked (the consumer's `ack_records`, once it exists).
    ack_records: Callable[[list[Record]], int] = lambda records: 0
    # The decided-ids store (engine/deciding.py).
    ids: TableStates | None = None

    def __post_init__(self) -> None:
        s = self.settings
        within = s.batch_within_ms / 1000
        self.batcher = Batcher(
            batch_handler(self), s.batch_max, 4 * s.batch_max, within,
            linger_max_s=10 * within, behind=lambda: self.waiting > s.batch_max,
        )  # fmt: skip

    def note_lag(self, batch: list[Record]) -> None:
        """How many records wait at the broker behind this batch's last ones."""
        last: dict[tuple[str, int], int] = {}
        for r in batch:
            last[(r.topic, r.partition)] = r.offset
        waiting = 0
        for (topic, partition), offset in last.items():
            try:
                end = self.highwater(TP(topic, partition))
            except Exception:  # e.g. no longer assigned: a hint only, never an error
                end = None
            if end is not None:
                waiting += max(0, end - offset - 1)
        self.waiting = waiting


def to_record(kind: str, event: EventT) -> Record:
    m = event.message
    ts = int(m.timestamp * 1000)
    return Record(m.topic, m.partition, m.offset, m.key, m.value, ts, kind, m.generation_id or 0)


def raw_topic(app: faust.App, name: str, **kwargs: Any) -> TopicT:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        **kwargs,
    )  # fmt: skip


def batch_agent(app: faust.App, rt: Runtime, topic: str | TopicT, kind: str) -> None:
    """The topic's records go to the worker's one batcher, in bulk.

    The agent declares the subscription (Faust's consumer group assigns its partitions);
    the records themselves do not pass through its stream: the worker's consumer hands a
    fetch's records of every input topic to the batcher in one call (`rt.kinds`,
    pipeline/engine/fetching.py). Should a record reach the stream all the same (a
    consumer without the hand-off), the agent puts it to the same batcher.

    Manual acks: the processor acks a record once its decision is in the log and its state
    in the table, and never lets an exception escape (it retries, or exits without acking).
    All topics feed one batcher, so a batch mixes topics and pays one Redis round trip.
    """
    channel = raw_topic(app, topic) if isinstance(topic, str) else topic
    rt.kinds[channel.get_topic_name()] = kind

    async def agent(stream: StreamT) -> None:
        async for event in stream.noack().events():
            await rt.batcher.add(to_record(kind, event))

    agent.__name__ = kind
    app.agent(channel, name=kind)(agent)


def batch_handler(rt: Runtime) -> Callable[[list[Record]], Awaitable[None]]:
    async def handle(items: list[Record]) -> None:
        # Records of partitions that are not this worker's any more are neither decided
        # nor acked (see Fence).
        await rt.fence.settled()
        owns = rt.fence.owns
        records = [r for r in items if owns(r)]
        if len(records) < len(items):
            metrics.FENCED.labels("receive").inc(len(items) - len(records))
        if not records:
            return
        rt.note_lag(records)
        if any(r.kind == "certs" for r in records):
            # Certification changes reach Redis before anything in the batch is decided.
            try:
                await rt.processor.apply_cert_changes(records)
            except Exception as exc:  # the batcher's task must not die: nothing would flow
                fatal("applying certification changes failed", exc)

        async def ack() -> None:
            # Only these acks count (pipeline/engine/fetching.py): Faust's own acks of
            # messages it skipped would commit records nobody decided.
            rt.ack_records(records)

        await rt.processor.process(records, ack)

    return handle
