"""Kafka for the bench: produce the input records, watch an output topic fill (end offsets),
and read the output records' broker timestamps, which are what the figures are made of."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.bench.workload import InputRecord
from pipeline.domain.errors import LiveGateError


class BenchError(LiveGateError):
    """The bench could not measure (a process died, a phase timed out); never slowness."""


def input_producer(settings: Settings, linger_ms: int = 5) -> AIOKafkaProducer:
    # The contract's partitioner (aiokafka's default, murmur2), acks=all.
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka.client_kwargs(settings),
        acks="all", linger_ms=linger_ms,
        max_batch_size=256 * 1024, request_timeout_ms=30_000,
    )  # fmt: skip


async def produce(
    settings: Settings, topics: dict[str, str], records: Sequence[InputRecord]
) -> None:
    """Every record to its kind's topic, as fast as the client goes; returns once acked.

    Records are packed into batches per partition by hand (the contract's murmur2 on the
    key, as aiokafka's default partitioner does), which is several times faster than one
    `send` per record; each partition keeps the records' order.
    """
    producer = input_producer(settings)
    await producer.start()
    try:
        counts = {t: len(await producer.partitions_for(t)) for t in set(topics.values())}
        hashes: dict[bytes, int] = {}
        groups: dict[tuple[str, int], list[InputRecord]] = defaultdict(list)
        for r in records:
            topic = topics[r.kind]
            h = hashes.get(r.key)
            if h is None:
                h = hashes[r.key] = murmur2(r.key) & 0x7FFFFFFF
            groups[(topic, h % counts[topic])].append(r)
        pending = []
        for (topic, partition), group in groups.items():
            batch = producer.create_batch()
            for r in group:
                if batch.append(key=r.key, value=r.value, timestamp=None) is None:
                    pending.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=r.key, value=r.value, timestamp=None)
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


class _Head(msgspec.Struct):
    event_id: str = ""


_HEAD = msgspec.json.Decoder(_Head)


@dataclass(frozen=True)
class Span:
    """The first and last output record's broker timestamps (ms) and how many there are."""

    first_ms: int
    last_ms: int
    count: int


class OutputWatch:
    """One output topic: its end offsets, polled, and its records' timestamps."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, **kafka.client_kwargs(settings),
            group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
        )  # fmt: skip
        self.parts: list[TopicPartition] = []

    async def start(self) -> OutputWatch:
        await self.consumer.start()
        numbers = await kafka.partitions(self.settings, self.topic)
        if not numbers:
            raise BenchError(
                f"topic {self.topic} does not exist at {self.settings.kafka_bootstrap}"
            )
        self.parts = [TopicPartition(self.topic, p) for p in numbers]
        self.consumer.assign(self.parts)
        return self

    async def stop(self) -> None:
        await self.consumer.stop()

    async def ends(self) -> dict[TopicPartition, int]:
        return dict(await self.consumer.end_offsets(self.parts))

    async def total(self) -> int:
        return sum((await self.ends()).values())

    async def wait_for(
        self, target: int, check: Callable[[], None], what: str, stall_s: float = 60.0,
        progress: Callable[[int], Awaitable[None] | None] | None = None, poll_s: float = 0.1,
    ) -> int:  # fmt: skip
        """Poll every `poll_s` until `target` records are on the topic.

        `progress` is called with the count at every poll, the last one included; `check`
        raises when a measured process died; no progress for `stall_s` is an error.
        """
        last, moved = -1, time.monotonic()
        while True:
            done = await self.total()
            if progress is not None:
                maybe = progress(done)
                if maybe is not None:
                    await maybe
            if done >= target:
                return done
            check()
            now = time.monotonic()
            if done != last:
                last, moved = done, now
            elif now - moved > stall_s:
                raise BenchError(
                    f"{what}: stalled at {done} of {target} records on {self.topic} "
                    f"for {stall_s:.0f}s"
                )
            await asyncio.sleep(poll_s)

    async def span(self, since: dict[TopicPartition, int] | None = None) -> Span:
        """First and last timestamps of the records after `since` (per partition offsets).

        Each partition has one producer at a time, so its timestamps grow with its offsets:
        the first record of every partition and the last one are enough.
        """
        ends = await self.ends()
        starts = since or {tp: 0 for tp in self.parts}
        firsts, lasts = [], []
        for tp in self.parts:
            if ends[tp] <= starts[tp]:
                continue
            firsts.append(await self._timestamp_at(tp, starts[tp]))
            lasts.append(await self._timestamp_at(tp, ends[tp] - 1))
        count = sum(ends[tp] - starts[tp] for tp in self.parts)
        if not firsts:
            raise BenchError(f"no records on {self.topic}")
        return Span(min(firsts), max(lasts), count)

    async def _timestamp_at(self, tp: TopicPartition, offset: int) -> int:
        self.consumer.seek(tp, offset)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = await self.consumer.getmany(tp, timeout_ms=1000, max_records=1)
            for rec in got.get(tp, []):
                if rec.offset == offset:
                    return int(rec.timestamp)
        raise BenchError(f"could not read {tp.topic}[{tp.partition}]@{offset}")

    async def read_event_times(
        self, since: dict[TopicPartition, int]
    ) -> dict[str, int]:  # fmt: skip
        """event_id -> broker timestamp (ms) of every output record after `since`."""
        ends = await self.ends()
        out: dict[str, int] = {}
        remaining = set()
        for tp in self.parts:
            if ends[tp] > since[tp]:
                self.consumer.seek(tp, since[tp])
                remaining.add(tp)
        while remaining:
            got = await self.consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, recs in got.items():
                for rec in recs:
                    out[_HEAD.decode(rec.value).event_id] = int(rec.timestamp)
                    if rec.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return out
