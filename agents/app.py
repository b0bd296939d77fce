"""The Faust application: its settings, tables and agents, wired to the engine."""

from __future__ import annotations

import logging
from typing import Any

import faust

from agents import certs, commerce, expiries, live, queuewatch, reports, reviews, web
from agents.runtime import Fence, Runtime, TableStates, aiokafka_producer, raw_topic
from agents.sensor import setup_lean_prometheus_sensors
from pipeline.adapters import kafka
from pipeline.adapters.certstore import CertStore, connect
from pipeline.adapters.logs import decision_logger
from pipeline.adapters.settings import Settings
from pipeline.domain.policy import Policy
from pipeline.engine import policyhistory, shadow
from pipeline.engine.certcache import CertCache
from pipeline.engine.decisionlog import ChainHeads
from pipeline.engine.expiries import ExpirySchedule
from pipeline.engine.faustconfig import (
    SCHEDULE_TABLE,
    SESSION_TIMEOUT_S,
    STATE_TABLE,
    changelog_configs,
    faust_options,
)
from pipeline.engine.fetching import BulkConsumer, use_short_fetch_wait
from pipeline.engine.processor import Processor, Send
from pipeline.engine.recovery import RecentDecisions
from pipeline.engine.standing import StandingHook

log = logging.getLogger("livegate.app")
AGENTS = (live, commerce, reports, reviews, certs, expiries, queuewatch, web)


def state_table(app: faust.App, settings: Settings, name: str, store: str) -> faust.Table:
    return app.Table(
        name, default=None, key_type=bytes, value_type=bytes,
        partitions=settings.partitions, use_partitioner=True, store=store,
        extra_topic_configs=changelog_configs(settings),
    )  # fmt: skip


def create_app(settings: Settings, policy: Policy) -> tuple[faust.App, Runtime]:
    app = faust.App(settings.app_id, **faust_options(settings), **web.faust_web_options(settings))
    # The consumer (made when the worker starts) hands the input topics' records to the
    # batcher in bulk, and commits only what the processor decided (engine/fetching.py).
    use_short_fetch_wait(app, bulk=True)
    # Faust's own sensor (consumer offsets, rebalances, send latency), without its
    # per-event work (agents/sensor.py), and ours share the default registry, served at
    # /metrics on the worker's web port.
    setup_lean_prometheus_sensors(app, pattern="/metrics")
    # The creator states in the store LIVEGATE_STORE names (a million creators need RocksDB);
    # the expiry schedule (pending checks of live streams only) stays in memory.
    states_table = state_table(app, settings, STATE_TABLE, settings.store)
    schedule_table = state_table(app, settings, SCHEDULE_TABLE, "memory://")
    runtime = _runtime(app, settings, policy, states_table, schedule_table)
    # Audit: the shadow policy, if any (never acts), and the policy history on which every
    # recorded decision's policy_version can be found (engine/shadow.py, policyhistory.py).
    shadow_policy = shadow.install(settings, policy, runtime.processor)
    policyhistory.attach(app, settings, policy, shadow_policy)
    _follow_rebalances(app, runtime)
    _index_schedule(app, runtime.schedule)
    for module in AGENTS:
        module.attach(app, runtime)
    return app, runtime


def _runtime(
    app: faust.App, settings: Settings, policy: Policy,
    states_table: faust.Table, schedule_table: faust.Table,
) -> Runtime:  # fmt: skip
    store = CertStore(connect(settings), settings)
    fence = Fence(app)
    states = TableStates(states_table, lambda: aiokafka_producer(app))

    async def send(topic: str, key: bytes | None, value: bytes, partition: int | None) -> Any:
        return await aiokafka_producer(app).send(topic, value, key=key, partition=partition)

    async def track_changelogs() -> None:
        # Table writes pick the changelog partition from the producer's metadata
        # (use_partitioner=True); a topic it does not track would fail the write. Tracking
        # (add_topic) keeps the topic in every later metadata refresh, which otherwise
        # covers only the topics the producer has sent to.
        producer = aiokafka_producer(app)
        for table in (states_table, schedule_table):
            topic = table.changelog_topic.get_topic_name()
            await producer.client.add_topic(topic)
            await producer.partitions_for(topic)

    schedule = ExpirySchedule(TableStates(schedule_table, lambda: aiokafka_producer(app)),
                              settings.partitions)  # fmt: skip
    sender: Send = send
    processor = Processor(
        settings, policy, CertCache(store), states, sender,
        ChainHeads(settings, settings.topics.decisions),
        lambda topic: app.consumer.topic_partitions(topic),  # the consumer exists only later
        schedule, session_timeout_s=SESSION_TIMEOUT_S, prepare=track_changelogs,
        fence=fence.owns, settled=fence.settled,
        recent=RecentDecisions(settings, settings.topics.decisions),
    )  # fmt: skip
    processor.hooks.append(decision_logger())  # decision log lines (adapters/logs.py)
    processor.hooks.append(StandingHook(settings))  # enforcement.restrictions and .queue
    expiries_topic = raw_topic(
        app, kafka.expiries_topic_name(settings), internal=True, partitions=settings.partitions
    )
    return Runtime(
        settings, policy, processor, store, states, schedule, expiries_topic, fence,
        highwater=lambda tp: app.consumer.highwater(tp),
    )  # fmt: skip


def _follow_rebalances(app: faust.App, rt: Runtime) -> None:
    chain = rt.processor.chain
    owned: set[int] = set()

    @app.on_partitions_revoked.connect
    async def _revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        chain.forget()
        if rt.processor.recent is not None:
            rt.processor.recent.forget()

    @app.on_partitions_assigned.connect
    async def _assigned(app: faust.App, assigned: Any, **kwargs: Any) -> None:
        consumer = app.consumer
        if isinstance(consumer, BulkConsumer):  # before the first fetch of the assignment
            consumer.hand_off(rt.kinds, rt.batcher)
            rt.ack_records = consumer.ack_records
        rt.fence.assigned(assigned)
        chain.forget()
        if rt.processor.recent is not None:
            rt.processor.recent.forget()
        # Forget the creators of partitions this worker lost (the memory store keeps keys
        # written live): their expiry checks and state now belong to the new owner.
        now = {tp.partition for tp in assigned}
        lost = owned - now
        if lost:
            rt.processor.forget(lost)
            dropped = rt.states.forget(lost) + rt.schedule.store.forget(lost)
            log.info("forgot %d keys of lost partitions %s", dropped, sorted(lost))
        owned.clear()
        owned.update(now)


def _index_schedule(app: faust.App, schedule: ExpirySchedule) -> None:
    """The schedule's in-memory index by due time follows the table: rebuilt once the
    partitions assigned in a rebalance are restored."""

    @app.on_rebalance_complete.connect
    async def _restored(app: faust.App, **kwargs: Any) -> None:
        schedule.rebuild()
