"""Kafka helpers: clients configured one way for the whole project, and topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from pipeline.settings import TOPIC_DEFAULTS, Settings


def producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    """A producer with acks=all: a record is only 'sent' once the broker has it."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def contract_topics(settings: Settings, partitions: int | None = None) -> list[NewTopic]:
    count = partitions or settings.partitions
    topics = []
    for default_name, (_, retention_ms, cleanup) in TOPIC_DEFAULTS.items():
        configs = {"cleanup.policy": cleanup, "retention.ms": str(retention_ms)}
        topics.append(NewTopic(settings.topics[default_name], count, 1, topic_configs=configs))
    return topics


async def ensure_topics(bootstrap: str, topics: Iterable[NewTopic]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
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


async def wait_for_kafka(bootstrap: str, timeout_s: float) -> None:
    """Wait until the broker answers a metadata request."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    # aiokafka logs every refused connection at ERROR while the broker boots.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3_000)
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


async def partitions(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of a topic (empty if it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return sorted(p["partition"] for p in entry.get("partitions", []))
    return []
