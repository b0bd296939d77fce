"""Kafka helpers: clients configured one way for the whole project, topic creation, and
reading whole topics in (partition, offset) order up to the end offsets seen at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    NodeNotReadyError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from aiokafka.helpers import create_ssl_context

from pipeline.adapters.records import Record
from pipeline.adapters.retry import retry
from pipeline.adapters.settings import TOPIC_DEFAULTS, Settings
from pipeline.domain.errors import LiveGateError

# Where a Kafka client is wanted: a Settings (bootstrap servers and security) or, for the
# plaintext-only callers written before security existed, a bare bootstrap string.
Target = Settings | str


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """The security keyword arguments every aiokafka client of the project takes.

    `AIOKafkaProducer(bootstrap_servers=..., **client_kwargs(settings))`, likewise for
    AIOKafkaConsumer and AIOKafkaAdminClient. The password is passed as the Secret it is,
    so a repr of the client's configuration never shows it.
    """
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_tls:
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    if settings.kafka_sasl:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def target(where: Target) -> tuple[str, dict[str, Any]]:
    """Bootstrap servers and client kwargs of a Settings or a bare bootstrap string."""
    if isinstance(where, Settings):
        return where.kafka_bootstrap, client_kwargs(where)
    return where, {}


def producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """A producer with acks=all: a record is only 'sent' once the broker has it."""
    options: dict[str, object] = {
        **client_kwargs(settings),
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


# The queue holds open items and those closed within the appeal window (older ones are
# tombstoned, pipeline/engine/queuewatch.py): a segment a day, cleaned once a tenth of it is
# dirty, so compaction drops them within days (Kafka's defaults: 7 days, half dirty).
# Verdicts and appeals carry the broker's append time, which no producer sets: the appeal
# window runs to it (CONTRACT §12).
EXTRA_CONFIGS: dict[str, dict[str, str]] = {
    "enforcement.queue": {"segment.ms": str(86_400_000), "min.cleanable.dirty.ratio": "0.1"},
    "moderation.reviews": {"message.timestamp.type": "LogAppendTime"},
}


def topic_configs(default_name: str) -> dict[str, str]:
    """The configs a contract topic is created with (CONTRACT §1's cleanup and retention)."""
    _, retention_ms, cleanup = TOPIC_DEFAULTS[default_name]
    configs = {"cleanup.policy": cleanup, "retention.ms": str(retention_ms)}
    return {**configs, **EXTRA_CONFIGS.get(default_name, {})}


def replication_configs(settings: Settings) -> dict[str, str]:
    """The topic configs the replication settings add (min.insync.replicas, when set)."""
    if settings.min_insync_replicas is None:
        return {}
    return {"min.insync.replicas": str(settings.min_insync_replicas)}


def new_topic(settings: Settings, name: str, partitions: int, configs: dict[str, str]) -> NewTopic:
    """A topic as LiveGate creates every one: replicated as the settings say."""
    return NewTopic(
        name, partitions, settings.replication_factor,
        topic_configs={**configs, **replication_configs(settings)},
    )  # fmt: skip


def contract_topics(settings: Settings, partitions: int | None = None) -> list[NewTopic]:
    count = partitions or settings.partitions
    return [
        new_topic(settings, settings.topics[name], count, topic_configs(name))
        for name in TOPIC_DEFAULTS
    ]


def expiries_topic_name(settings: Settings) -> str:
    return f"{settings.app_id}-expiries"


def worker_topics(settings: Settings) -> list[NewTopic]:
    """The contract's topics and the worker's internal expiry-check topic.

    The internal topic is created before Faust starts: one created by Faust itself just
    before the group forms can be missing from the metadata the assignor sees, and then
    no worker is assigned its partitions.
    """
    week = {"cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)}
    internal = new_topic(settings, expiries_topic_name(settings), settings.partitions, week)
    return [*contract_topics(settings), internal]


async def ensure_topics(where: Target, topics: Iterable[NewTopic]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    bootstrap, security = target(where)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


@dataclass(frozen=True)
class TopicDifference:
    """An existing topic that is not what the settings would create."""

    topic: str
    what: str  # "partitions", "replication factor" or a topic config's name
    actual: str
    wanted: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.what} is {self.actual}, the settings want {self.wanted}"


async def describe_topics(admin: AIOKafkaAdminClient, names: Iterable[str]) -> list[Any]:
    """The topics' metadata (aiokafka's `describe_topics` entries), each missing one as an
    entry with UNKNOWN_TOPIC_OR_PARTITION and no partitions, asking only of those that exist.

    aiokafka's `describe_topics` sends a Metadata request that allows automatic creation: a
    broker with `auto.create.topics.enable` (Kafka's default) creates every missing topic it
    names, with the broker's defaults. Asked of a table's changelog before Faust made it, that
    is a changelog with a delete policy (a week of retention: creator state lost at the next
    restore) and the broker's partition count.
    """
    wanted = list(dict.fromkeys(names))
    existing = set(await admin.list_topics())  # every topic: allows no creation
    present = [n for n in wanted if n in existing]
    described = list(await admin.describe_topics(present)) if present else []
    missing = UnknownTopicOrPartitionError.errno
    return described + [
        {"topic": n, "error_code": missing, "partitions": []} for n in wanted if n not in existing
    ]


async def topic_differences(
    where: Target, topics: Iterable[NewTopic], configs: bool = True
) -> list[TopicDifference]:
    """How the existing ones of `topics` differ from them: partition count, replication
    factor (the fewest replicas of a partition) and, with `configs`, every config the
    NewTopic names (reading them needs DESCRIBE_CONFIGS)."""
    wanted = {t.name: t for t in topics}
    bootstrap, security = target(where)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security)
    await admin.start()
    try:
        described = await describe_topics(admin, wanted)
        existing = [e for e in described if e.get("topic") in wanted and not e.get("error_code")]
        names = [e["topic"] for e in existing]
        found = await _topic_configs(admin, names) if names and configs else {}
    finally:
        await admin.close()
    out: list[TopicDifference] = []
    for entry in sorted(existing, key=lambda e: e["topic"]):
        topic = wanted[entry["topic"]]
        parts = entry.get("partitions", [])
        if len(parts) != topic.num_partitions:
            out.append(TopicDifference(topic.name, "partitions", str(len(parts)),
                                       str(topic.num_partitions)))  # fmt: skip
        replicas = min((len(p.get("replicas", ())) for p in parts), default=0)
        if replicas != topic.replication_factor:
            out.append(TopicDifference(topic.name, "replication factor", str(replicas),
                                       str(topic.replication_factor)))  # fmt: skip
        if not configs:
            continue
        actual = found.get(topic.name, {})
        for key, value in sorted((topic.topic_configs or {}).items()):
            if actual.get(key) != str(value):
                out.append(TopicDifference(topic.name, key, str(actual.get(key)), str(value)))
    return out


async def _topic_configs(
    admin: AIOKafkaAdminClient, names: list[str], attempts: int = 40
) -> dict[str, dict[str, str]]:
    """Each topic's configs. A broker that has not yet learnt of a topic just created
    answers with an error for it (UNKNOWN_TOPIC_OR_PARTITION): asked again, briefly."""
    out: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    for _ in range(attempts):
        wanted = [n for n in names if n not in out]
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n) for n in wanted]
        )
        for response in responses:
            # (error_code, error_message, resource_type, resource_name, config_entries)
            for code, message, _, name, entries in response.resources:
                if code:
                    errors[name] = f"error {code} {message or ''}".strip()
                else:
                    out[name] = {e[0]: e[1] for e in entries}
        if len(out) == len(names):
            return out
        await asyncio.sleep(0.25)
    missing = ", ".join(f"{n} ({errors.get(n, 'no answer')})" for n in names if n not in out)
    raise LiveGateError(f"cannot read the configs of {missing}")


@dataclass(frozen=True)
class PartitionLag:
    """A consumer group's position on one partition, as the brokers report it."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed here (it starts at `begin`)
    begin: int
    end: int

    @property
    def lag(self) -> int:
        start = self.begin if self.committed is None else max(self.committed, self.begin)
        return max(0, self.end - start)


async def group_lag(where: Target, group: str, topics: Iterable[str]) -> list[PartitionLag]:
    """The group's lag on every partition of `topics` and of any topic it committed on: its
    committed offsets (OffsetFetch at the group coordinator) against the log end offsets."""
    bootstrap, security = target(where)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security)
    await admin.start()
    try:
        # A new cluster's group coordinator (its offsets topic) comes up at the first ask.
        committed = await retry(
            lambda: admin.list_consumer_group_offsets(group),
            on=(CoordinatorNotAvailableError, CoordinatorLoadInProgressError),
            report=_quiet, first_delay=0.5, max_delay=0.5, attempts=40,
        )  # fmt: skip
        names = sorted(set(topics) | {tp.topic for tp in committed})
        described = await describe_topics(admin, names)
    finally:
        await admin.close()
    tps = [
        TopicPartition(entry["topic"], p["partition"])
        for entry in described if not entry.get("error_code")
        for p in entry.get("partitions", [])
    ]  # fmt: skip
    if not tps:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **security)
    await consumer.start()
    try:
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    rows = []
    for tp in sorted(tps):
        mark = committed.get(tp)
        offset = mark.offset if mark is not None and mark.offset >= 0 else None
        rows.append(PartitionLag(tp.topic, tp.partition, offset, begin[tp], end[tp]))
    return rows


async def wait_for_kafka(where: Target, timeout_s: float) -> None:
    """Wait until the broker answers a metadata request."""
    bootstrap, security = target(where)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    # aiokafka logs every refused connection at ERROR while the broker boots.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=3_000, **security
        )
        try:
            await admin.start()
            await admin.list_topics()
            logging.getLogger("aiokafka").setLevel(logging.NOTSET)
            return
        except (KafkaError, KafkaConnectionError, OSError) as exc:
            last = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    logging.getLogger("aiokafka").setLevel(logging.NOTSET)
    raise TimeoutError(f"Kafka at {bootstrap} did not answer within {timeout_s:.0f}s: {last!r}")


async def partitions(where: Target, topic: str) -> list[int]:
    """The partition numbers of a topic (empty if it does not exist)."""
    bootstrap, security = target(where)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security)
    await admin.start()
    try:
        # The admin client asks one broker of the metadata it has; one that has just stopped
        # is not ready: ask again (the next try picks another), a few times.
        described = await retry(
            lambda: describe_topics(admin, [topic]),
            on=(NodeNotReadyError, KafkaConnectionError),
            report=_quiet, first_delay=0.5, max_delay=0.5, attempts=5,
        )  # fmt: skip
    finally:
        await admin.close()
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return sorted(p["partition"] for p in entry.get("partitions", []))
    return []


async def end_offsets(where: Target, topics: Iterable[str]) -> dict[str, dict[int, int] | None]:
    """Each topic's end offset (the next offset written) by partition; None for a topic the
    broker says does not exist. A topic it does not describe for another reason (not
    authorised, no leader) is left out: nothing is known of it."""
    names = sorted(set(topics))
    bootstrap, security = target(where)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security)
    await admin.start()
    try:
        described = await describe_topics(admin, names)
    finally:
        await admin.close()
    out: dict[str, dict[int, int] | None] = {}
    tps: list[TopicPartition] = []
    for entry in described:
        name, code = entry["topic"], entry.get("error_code")
        if code == UnknownTopicOrPartitionError.errno:
            out[name] = None
        elif not code:
            tps.extend(TopicPartition(name, p["partition"]) for p in entry.get("partitions", []))
    if tps:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **security)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        for tp, end in ends.items():
            partitions = out.setdefault(tp.topic, {})
            assert partitions is not None
            partitions[tp.partition] = end
    return out


def _quiet(exc: BaseException) -> None:
    """A retried failure a command says nothing of (its last one escapes)."""


class TopicMissing(LiveGateError):
    pass


async def read_topic(
    where: Target,
    topic: str,
    progress: Callable[[int, int], None] | None = None,
    required: bool = True,
    last: int | None = None,
) -> dict[int, list[Record]]:
    """Every record of every partition, by partition, in offset order (with `last`, only
    each partition's last `last` records).

    `progress(read, total)` is called after each fetch.
    """
    out: dict[int, list[Record]] = {}
    async for batch in stream_topic(where, topic, progress, required, last, _seen=out):
        for r in batch:
            out[r.partition].append(r)
    return out


async def stream_topic(
    where: Target,
    topic: str,
    progress: Callable[[int, int], None] | None = None,
    required: bool = True,
    last: int | None = None,
    _seen: dict[int, list[Record]] | None = None,
) -> AsyncIterator[list[Record]]:
    """The topic's records up to its end as of the start, one fetch at a time (each
    partition's in offset order): what a reader that keeps little of the log iterates, so
    its memory does not follow the log's length."""
    bootstrap, security = target(where)
    numbers = await partitions(where, topic)
    if not numbers:
        if required:
            raise TopicMissing(f"topic {topic} not found at {bootstrap}")
        return
    if _seen is not None:
        _seen.update({p: [] for p in numbers})
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
        **security,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        if last is not None:
            for tp in tps:
                begin[tp] = max(begin[tp], end[tp] - last)
                consumer.seek(tp, begin[tp])
        total = sum(end[tp] - begin[tp] for tp in tps)
        done = 0
        remaining = {tp for tp in tps if end[tp] > begin[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=20_000)
            rows: list[Record] = []
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= end[tp]:
                        remaining.discard(tp)
                        break
                    rows.append(Record(topic, tp.partition, r.offset, r.key, r.value, r.timestamp))
                    done += 1
                    if r.offset + 1 >= end[tp]:
                        remaining.discard(tp)
                        break
            if not batch:
                # Transaction markers or compacted gaps: the position may sit at the end.
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
            if progress:
                progress(done, total)
            if rows:
                yield rows
    finally:
        await consumer.stop()


class TopicTail:
    """A small topic read again and again (the policies topic, CONTRACT §10): one consumer,
    every partition assigned, kept between reads; `read_new` returns what was appended since
    the last read, up to the end as of the call."""

    def __init__(self, where: Target, topic: str) -> None:
        self.where = where
        self.topic = topic
        self.consumer: AIOKafkaConsumer | None = None
        self.tps: list[TopicPartition] = []

    async def _start(self) -> bool:
        numbers = await partitions(self.where, self.topic)
        if not numbers:
            return False
        bootstrap, security = target(self.where)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **security
        )
        await consumer.start()
        self.tps = [TopicPartition(self.topic, p) for p in numbers]
        consumer.assign(self.tps)
        await consumer.seek_to_beginning(*self.tps)
        self.consumer = consumer
        return True

    async def read_new(self) -> list[Record]:
        if self.consumer is None and not await self._start():
            return []  # no such topic (yet): nothing on it
        consumer = self.consumer
        assert consumer is not None
        end = await consumer.end_offsets(self.tps)
        rows: list[Record] = []
        remaining = {tp for tp in self.tps if await consumer.position(tp) < end[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < end[tp]:
                        rows.append(Record(self.topic, tp.partition, r.offset, r.key, r.value,
                                           r.timestamp))  # fmt: skip
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return rows

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None


async def read_topic_window(
    where: Target, topic: str, start_ms: int, end_ms: int | None, before: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[int, list[Record]], dict[int, int]]:  # fmt: skip
    """The records whose Kafka timestamp is in [start_ms, end_ms) (None: to the end), found by
    offsets for times, with each partition's `before` records just ahead of them; and each
    partition's first offset of the window. Reads what the window holds, not the log."""
    bootstrap, security = target(where)
    numbers = await partitions(where, topic)
    out: dict[int, list[Record]] = {p: [] for p in numbers}
    firsts: dict[int, int] = {}
    if not numbers:
        return out, firsts
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, **security)  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(tps)
        begin = await consumer.beginning_offsets(tps)
        last = await consumer.end_offsets(tps)
        at_start = await consumer.offsets_for_times({tp: start_ms for tp in tps})
        at_end = (await consumer.offsets_for_times({tp: end_ms for tp in tps})
                  if end_ms is not None else {})  # fmt: skip
        stop: dict[TopicPartition, int] = {}
        total = 0
        for tp in tps:
            first = at_start[tp].offset if at_start.get(tp) is not None else last[tp]
            firsts[tp.partition] = first
            found = at_end.get(tp)
            stop[tp] = found.offset if found is not None else last[tp]
            seek = max(begin[tp], first - before)
            consumer.seek(tp, seek)
            total += max(0, stop[tp] - seek)
        done = 0
        remaining = {tp for tp in tps if await consumer.position(tp) < stop[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=20_000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < stop[tp]:
                        out[tp.partition].append(
                            Record(topic, tp.partition, r.offset, r.key, r.value, r.timestamp)
                        )
                        done += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= stop[tp]:
                    remaining.discard(tp)
            if progress:
                progress(done, total)
    finally:
        await consumer.stop()
    return out, firsts
