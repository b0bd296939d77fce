"""The Faust application: settings, the creator-state table, and the runtime agents share."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import EventT

from pipeline import kafkautil, policyhistory, shadow
from pipeline.certcache import CertCache
from pipeline.certstore import CertStore, connect
from pipeline.decisionlog import ChainHeads
from pipeline.domain.policy import Policy
from pipeline.expiries import ExpirySchedule
from pipeline.logs import decision_logger
from pipeline.processor import Processor, Record
from pipeline.settings import Settings

log = logging.getLogger("livegate.app")
# DESIGN: about 10 s instead of Faust's 60 s, so a dead worker's partitions move quickly.
SESSION_TIMEOUT_S = 10.0


@dataclass
class Runtime:
    """What the agents share: settings, the processor, the cert store."""

    settings: Settings
    policy: Policy
    processor: Processor
    store: CertStore
    states: Any
    schedule: ExpirySchedule
    expiries_topic: Any

    @property
    def batch_within(self) -> float:
        return self.settings.batch_within_ms / 1000


class TableStates:
    """The Faust table as the processor's state store (bytes keys and values)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.data = table.data

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.table[key] = value


def to_record(event: EventT) -> Record:
    m = event.message
    return Record(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))


def raw_topic(app: faust.App, name: str, **kwargs: Any) -> Any:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        **kwargs,
    )  # fmt: skip


def batch_agent(
    app: faust.App, rt: Runtime, topic: str | Any, kind: str,
    before: Callable[[list[Record]], Awaitable[None]] | None = None,
) -> None:  # fmt: skip
    """An agent that hands batches of raw records to the processor.

    `take_events` acks a batch only when the loop body returns; the processor never lets
    an exception escape (it retries, or exits the process without acking).
    """

    async def agent(stream: Any) -> None:
        async for batch in stream.take_events(rt.settings.batch_max, rt.batch_within):
            records = [to_record(e) for e in batch]
            if before is not None:
                await before(records)
            await rt.processor.process(kind, records)

    agent.__name__ = kind
    channel = raw_topic(app, topic) if isinstance(topic, str) else topic
    app.agent(channel, name=kind)(agent)


def create_app(settings: Settings, policy: Policy) -> tuple[faust.App, Runtime]:
    bootstrap = ";".join(settings.kafka_bootstrap.split(","))
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=kafkautil.faust_credentials(settings),  # None: PLAINTEXT
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=2,
        broker_commit_interval=1.0,
        broker_max_poll_records=1000,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.002,
        producer_max_batch_size=256 * 1024,
        stream_recovery_delay=0.0,
        stream_buffer_maxsize=8192,
        stream_ack_exceptions=False,
        table_standby_replicas=0,
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
    )
    # Faust's own sensor (consumer offsets, rebalances, send latency) and ours share the
    # default registry, served at /metrics on the worker's web port.
    setup_prometheus_sensors(app, pattern="/metrics", name_prefix="faust")
    states_table = app.Table(
        "creator-state", default=None, key_type=bytes, value_type=bytes,
        partitions=settings.partitions,
        use_partitioner=True,
    )  # fmt: skip
    schedule_table = app.Table(
        "expiry-schedule", default=None, key_type=bytes, value_type=bytes,
        partitions=settings.partitions, use_partitioner=True,
    )  # fmt: skip
    client = connect(settings)
    store = CertStore(client, settings)
    chain = ChainHeads(settings, settings.topics.decisions)
    states = TableStates(states_table)

    async def send(
        topic: str, key: bytes | None, value: bytes, partition: int | None
    ) -> Awaitable[Any]:
        return await app.producer.send(topic, key, value, partition, None, None)

    def partitions_of(topic: str) -> int | None:
        return app.consumer.topic_partitions(topic)

    schedule = ExpirySchedule(schedule_table)
    processor = Processor(
        settings, policy, CertCache(store), states, send, chain, partitions_of, schedule,
        session_timeout_s=SESSION_TIMEOUT_S,
    )  # fmt: skip
    processor.hooks.append(decision_logger())  # decision log lines (pipeline/logs.py)

    async def fetch_metadata() -> None:
        # Table writes pick the changelog partition from the producer's metadata
        # (use_partitioner=True); a topic it has not seen yet would fail the write.
        producer = app.producer._ensure_producer()  # the aiokafka producer Faust drives
        for table in (states_table, schedule_table):
            await producer.partitions_for(table.changelog_topic.get_topic_name())

    processor.prepare = fetch_metadata
    expiries_topic = raw_topic(
        app, f"{settings.app_id}-expiries", internal=True, partitions=settings.partitions
    )
    runtime = Runtime(settings, policy, processor, store, states, schedule, expiries_topic)
    # Audit: the shadow policy, if any (never acts), and the policy history on which every
    # recorded decision's policy_version can be found (pipeline/shadow.py, policyhistory.py).
    shadow_policy = shadow.install(settings, policy, processor)
    policyhistory.attach(app, settings, policy, shadow_policy)

    @app.on_partitions_revoked.connect
    async def _revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        chain.forget()

    @app.on_partitions_assigned.connect
    async def _assigned(app: faust.App, assigned: Any, **kwargs: Any) -> None:
        chain.forget()

    from agents import certs, commerce, expiries, live, reports, web

    for module in (live, commerce, reports, certs, expiries, web):
        module.attach(app, runtime)
    return app, runtime
