"""What the agents share (the Runtime), and the one way an agent hands records to the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP, EventT, StreamT, TopicT

from pipeline.adapters import metrics
from pipeline.adapters.batchsend import BatchSend
from pipeline.adapters.certstore import CertStore
from pipeline.adapters.faust.group import Fence
from pipeline.adapters.faust.tables import TableStates
from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.domain.policy import Policy
from pipeline.engine.batcher import Batcher
from pipeline.engine.expiries import ExpirySchedule
from pipeline.engine.processor import Processor, fatal

# While a backlog waits at the broker, a batch may linger this long to fill up (or 10 x
# LIVEGATE_BATCH_WITHIN_MS, if longer): a short paced linger keeps backlog batches full.
BACKLOG_LINGER_MAX_S = 0.05


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
    # their records to the batcher in bulk (pipeline/adapters/faust/fetching.py).
    kinds: dict[str, str] = field(default_factory=dict)
    # Marks decided records acked (the consumer's `ack_records`, once it exists).
    ack_records: Callable[[list[Record]], int] = lambda records: 0
    # The decided-ids store (engine/deciding.py).
    ids: TableStates | None = None
    # The activated policy versions (engine/activations.py), once the app has them.
    activations: Any = None
    # What sends batches and table writes (adapters/batchsend.py, adapters/rdkafkasend.py).
    sender: BatchSend | None = None

    def __post_init__(self) -> None:
        s = self.settings
        within = s.batch_within_ms / 1000
        self.batcher = Batcher(
            batch_handler(self), s.batch_max, 4 * s.batch_max, within,
            linger_max_s=max(10 * within, BACKLOG_LINGER_MAX_S),
            behind=lambda: self.waiting > s.batch_max,
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
    pipeline/adapters/faust/fetching.py). Should a record reach the stream all the same (a
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
            # Only these acks count (pipeline/adapters/faust/fetching.py): Faust's own acks of
            # messages it skipped would commit records nobody decided.
            rt.ack_records(records)

        await rt.processor.process(records, ack)

    return handle
