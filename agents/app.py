"""The Faust application: settings, the creator-state table, and the runtime agents share."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import EventT

from pipeline import kafkautil, policyhistory, shadow
from pipeline.batcher import Batcher
from pipeline.certcache import CertCache
from pipeline.certstore import CertStore, connect
from pipeline.decisionlog import ChainHeads
from pipeline.domain.policy import Policy
from pipeline.expiries import ExpirySchedule
from pipeline.logs import decision_logger
from pipeline.processor import Processor, fatal
from pipeline.records import Record
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
    batcher: Batcher[Any] = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.batcher = Batcher(batch_handler(self), s.batch_max, 4 * s.batch_max, self.batch_within)

    @property
    def batch_within(self) -> float:
        return self.settings.batch_within_ms / 1000


class TableStates:
    """The Faust table as the processor's state store (bytes keys and values).

    Writes go to the table's store and, through the aiokafka producer directly, to its
    changelog partition (the input record's partition: co-partitioned), which is what
    Faust's own `table[key] = value` does, minus its per-write buffer and bookkeeping —
    the largest per-event cost in the profile. Faust restores the table from the same
    changelog records on recovery.
    """

    def __init__(self, table: Any, producer: Callable[[], Any]) -> None:
        self.table = table
        self.data = table.data
        self.producer = producer
        self.topic = table.changelog_topic.get_topic_name()

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: bytes, value: bytes, partition: int) -> None:
        self.data[key] = value
        await self.producer().send(self.topic, value, key=key, partition=partition)


def to_record(kind: str, event: EventT) -> Record:
    m = event.message
    ts = int(m.timestamp * 1000)
    return Record(m.topic, m.partition, m.offset, m.key, m.value, ts, kind)


def raw_topic(app: faust.App, name: str, **kwargs: Any) -> Any:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        **kwargs,
    )  # fmt: skip


def batch_agent(app: faust.App, rt: Runtime, topic: str | Any, kind: str) -> None:
    """An agent that hands its topic's events to the worker's one batcher.

    Manual acks: the processor acks an event once its decision is in the log and its state
    in the table, and never lets an exception escape (it retries, or exits without acking).
    All agents feed one batcher, so a batch mixes topics and pays one Redis round trip.
    """

    async def agent(stream: Any) -> None:
        events = stream.noack()
        async for event in events.events():
            await rt.batcher.add((kind, event, events))

    agent.__name__ = kind
    channel = raw_topic(app, topic) if isinstance(topic, str) else topic
    app.agent(channel, name=kind)(agent)


def batch_handler(rt: Runtime) -> Callable[[list[Any]], Awaitable[None]]:
    async def handle(batch: list[Any]) -> None:
        records = [to_record(kind, event) for kind, event, _ in batch]
        if any(r.kind == "certs" for r in records):
            # Certification changes reach Redis before anything in the batch is decided.
            try:
                await rt.processor.apply_cert_changes(records)
            except Exception as exc:  # the batcher's task must not die: nothing would flow
                fatal("applying certification changes failed", exc)

        async def ack() -> None:
            for _, event, stream in batch:
                await stream.ack(event)

        await rt.processor.process(records, ack)

    return handle


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

    def aiokafka_producer() -> Any:
        # The aiokafka producer under Faust's: the same client, without Faust's per-send
        # wrapper and sensor calls (DESIGN: "the producer used directly").
        return app.producer._ensure_producer()

    states = TableStates(states_table, aiokafka_producer)

    async def send(
        topic: str, key: bytes | None, value: bytes, partition: int | None
    ) -> Awaitable[Any]:
        return await aiokafka_producer().send(topic, value, key=key, partition=partition)

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
        # (use_partitioner=True); a topic it does not track would fail the write. Tracking
        # (add_topic) keeps the topic in every later metadata refresh, which otherwise
        # covers only the topics the producer has sent to.
        producer = app.producer._ensure_producer()  # the aiokafka producer Faust drives
        for table in (states_table, schedule_table):
            topic = table.changelog_topic.get_topic_name()
            await producer.client.add_topic(topic)
            await producer.partitions_for(topic)

    processor.prepare = fetch_metadata
    expiries_topic = raw_topic(
        app, kafkautil.expiries_topic_name(settings), internal=True, partitions=settings.partitions
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
