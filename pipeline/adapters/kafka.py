"""Kafka helpers: clients configured one way for the whole project, topic creation, and
reading whole topics in (partition, offset) order up to the end offsets seen at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from pipeline.adapters.records import Record
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


def contract_topics(settings: Settings, partitions: int | None = None) -> list[NewTopic]:
    count = partitions or settings.partitions
    return [
        NewTopic(settings.topics[name], count, 1, topic_configs=topic_configs(name))
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
    internal = NewTopic(expiries_topic_name(settings), settings.partitions, 1,
                        topic_configs=week)  # fmt: skip
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


async def topic_config(where: Target, topic: str, name: str) -> str | None:
    """One config value of a topic as the broker has it (None when it cannot say)."""
    bootstrap, security = target(where)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000, **security)
    await admin.start()
    try:
        (res,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})]
        )
        for entry in res.resources[0][4]:
            if entry[0] == name:
                return str(entry[1])
        return None
    finally:
        await admin.close()


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
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return sorted(p["partition"] for p in entry.get("partitions", []))
    return []


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
