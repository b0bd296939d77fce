"""The Faust application: its settings, tables and agents, wired to the engine."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from agents import certs, commerce, expiries, live, queuewatch, reports, reviews, web
from agents.runtime import Runtime, raw_topic
from pipeline.adapters import collector, kafka, metrics
from pipeline.adapters.batchsend import BatchSend
from pipeline.adapters.breakerstore import BreakerHistory
from pipeline.adapters.capstore import CapStore
from pipeline.adapters.certstore import CertStore, connect
from pipeline.adapters.faust.fetching import BulkConsumer, use_adaptive_fetch
from pipeline.adapters.faust.group import Fence
from pipeline.adapters.faust.sensor import setup_lean_prometheus_sensors
from pipeline.adapters.faust.tables import TableStates, aiokafka_producer
from pipeline.adapters.logs import decision_logger
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.domain.policy import Policy
from pipeline.engine import activations, idsweep, policyhistory, shadow
from pipeline.engine.certcache import CertCache
from pipeline.engine.decisionlog import ChainHeads
from pipeline.engine.expiries import ExpirySchedule
from pipeline.engine.faustconfig import (
    IDS_TABLE,
    OUTBOX_CONFIGS,
    OUTBOX_TABLE,
    SCHEDULE_TABLE,
    SESSION_TIMEOUT_S,
    STATE_TABLE,
    changelog_configs,
    faust_options,
)
from pipeline.engine.outbox import OutRecord
from pipeline.engine.processor import Processor
from pipeline.engine.recovery import RecentDecisions
from pipeline.engine.standing import StandingHook

log = logging.getLogger("livegate.app")
AGENTS = (live, commerce, reports, reviews, certs, expiries, queuewatch, web)


def state_table(
    app: faust.App, settings: Settings, name: str, store: str,
    extra_configs: dict[str, str] | None = None,
) -> faust.Table:  # fmt: skip
    return app.Table(
        name, default=None, key_type=bytes, value_type=bytes,
        partitions=settings.partitions, use_partitioner=True, store=store,
        extra_topic_configs={**changelog_configs(settings), **(extra_configs or {})},
    )  # fmt: skip


DAY_MS = 86_400_000


def decided_ids_table(app: faust.App, settings: Settings, policy: Policy) -> faust.Table:
    """(creator, event_id) -> event time, for the deduplication horizon: its changelog
    deletes what is older than the horizon and a day, whatever the creator's event rate."""
    retention = policy.dedup_horizon_ms + DAY_MS
    configs = {"cleanup.policy": "compact,delete", "retention.ms": str(retention)}
    return state_table(app, settings, IDS_TABLE, settings.store, configs)


def create_app(settings: Settings, policy: Policy) -> tuple[faust.App, Runtime]:
    app = faust.App(settings.app_id, **faust_options(settings), **web.faust_web_options(settings))
    # The consumer (made when the worker starts) hands the input topics' records to the
    # batcher in bulk, and commits only what the processor decided
    # (pipeline/adapters/faust/fetching.py).
    use_adaptive_fetch(app, bulk=True, gather_ms=settings.fetch_gather_ms)
    # Faust's own sensor (consumer offsets, rebalances, send latency), without its
    # per-event work (pipeline/adapters/faust/sensor.py), and ours share the default
    # registry, served at /metrics on the worker's web port.
    setup_lean_prometheus_sensors(app, pattern="/metrics")
    # The creator states in the store LIVEGATE_STORE names (a million creators need RocksDB);
    # the expiry schedule (pending checks of live streams only) stays in memory.
    states_table = state_table(app, settings, STATE_TABLE, settings.store)
    schedule_table = state_table(app, settings, SCHEDULE_TABLE, "memory://")
    ids_table = decided_ids_table(app, settings, policy)
    outbox_table = state_table(app, settings, OUTBOX_TABLE, settings.store, OUTBOX_CONFIGS)
    runtime = _runtime(app, settings, policy, states_table, schedule_table, ids_table, outbox_table)
    # Audit: the shadow policy, if any (never acts), and the policy history on which every
    # recorded decision's policy_version can be found (engine/shadow.py, policyhistory.py).
    shadow_policy = shadow.install(settings, policy, runtime.processor)
    policyhistory.attach(app, settings, shadow_policy)
    # The activated versions (CONTRACT §10): read before the first decision, then followed.
    follower = activations.Activations(settings, policy, runtime.processor.set_book)
    runtime.activations = follower
    runtime.processor.policy_gate = follower.gate
    runtime.processor.caps = CapStore(runtime.store.client, settings)
    activations.attach(app, follower)
    _follow_rebalances(app, runtime)
    _index_schedule(app, runtime.schedule)
    for module in AGENTS:
        module.attach(app, runtime)
    return app, runtime


def _sender(app: faust.App, settings: Settings) -> BatchSend:
    """The worker's one sender of batches (out-records and table writes): librdkafka's, or
    aiokafka's (LIVEGATE_PRODUCER)."""
    if settings.producer == "aiokafka":
        return BatchSend(lambda: aiokafka_producer(app))
    from pipeline.adapters.rdkafkasend import RdKafkaSend

    return RdKafkaSend(settings, lambda: aiokafka_producer(app))


def _runtime(
    app: faust.App, settings: Settings, policy: Policy,
    states_table: faust.Table, schedule_table: faust.Table, ids_table: faust.Table,
    outbox_table: faust.Table,
) -> Runtime:  # fmt: skip
    store = CertStore(connect(settings), settings)
    fence = Fence(app)
    batches = _sender(app, settings)
    states = TableStates(states_table, batches)

    async def track_changelogs() -> None:
        # Table writes pick the changelog partition from the producer's metadata
        # (use_partitioner=True); a topic it does not track would fail the write. Tracking
        # (add_topic) keeps the topic in every later metadata refresh, which otherwise
        # covers only the topics the producer has sent to.
        producer = aiokafka_producer(app)
        for table in (states_table, schedule_table, ids_table, outbox_table):
            topic = table.changelog_topic.get_topic_name()
            await producer.client.add_topic(topic)
            await producer.partitions_for(topic)

    schedule = ExpirySchedule(
        TableStates(schedule_table, batches), settings.partitions
    )  # fmt: skip

    async def send_many(records: list[OutRecord]) -> list[Any]:
        sent = await batches.send_many((r.topic, r.key, r.value, r.partition) for r in records)
        return [delivery for _, _, delivery in sent]

    ids = TableStates(ids_table, batches)
    outbox = TableStates(outbox_table, batches)
    processor = Processor(
        settings, policy, CertCache(store), states, None,  # all sent in batches (send_many)
        ChainHeads(settings, settings.topics.decisions),
        lambda topic: app.consumer.topic_partitions(topic),  # the consumer exists only later
        schedule, session_timeout_s=SESSION_TIMEOUT_S, prepare=track_changelogs,
        fence=fence.owns, settled=fence.settled,
        recent=RecentDecisions(settings, settings.topics.decisions),
        ids=ids,
        generation=lambda: app.consumer_generation_id,
        breaker_history=BreakerHistory(store.client, settings), outbox=outbox,
        send_many=send_many,
    )  # fmt: skip
    processor.hooks.append(decision_logger())  # decision log lines (adapters/logs.py)
    processor.hooks.append(StandingHook(settings))  # enforcement.restrictions and .queue
    expiries_topic = raw_topic(
        app, kafka.expiries_topic_name(settings), internal=True, partitions=settings.partitions
    )
    return Runtime(
        settings, policy, processor, store, states, schedule, expiries_topic, fence,
        highwater=lambda tp: app.consumer.highwater(tp), ids=ids, sender=batches,
    )  # fmt: skip


def _follow_rebalances(app: faust.App, rt: Runtime) -> None:
    owned: set[int] = set()

    @app.on_partitions_revoked.connect
    async def _revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        # Say which outbox entries are done, so the next owner re-sends none of them.
        await rt.processor.flush_claims()

    @app.on_before_shutdown.connect
    async def _stopping(app: faust.App, **kwargs: Any) -> None:
        # The same at a stop (the consumer is stopped, the producer not yet flushed), once
        # the batches decided but not yet completed are (a few seconds at most): a batch
        # stopped short of its claim would be re-sent by the next owner, its decision
        # records twice in the log.
        if rt.processor.completions:
            await asyncio.wait(set(rt.processor.completions), timeout=STOP_COMPLETIONS_S)
        await rt.processor.flush_claims()
        # librdkafka's sender delivers what it holds before the process ends.
        close = getattr(rt.sender, "close", None)
        if close is not None:
            left = await asyncio.get_running_loop().run_in_executor(None, close)
            if left:
                log.error("the worker stopped with %d records undelivered", left)

    @app.on_partitions_assigned.connect
    async def _assigned(app: faust.App, assigned: Any, **kwargs: Any) -> None:
        consumer = app.consumer
        if isinstance(consumer, BulkConsumer):  # before the first fetch of the assignment
            consumer.hand_off(rt.kinds, rt.batcher)
            rt.ack_records = consumer.ack_records
        rt.fence.assigned(assigned)
        # Forget the partitions this worker lost (the memory store keeps keys written
        # live): their outbox, expiry checks and states now belong to the new owner.
        # The input topics' partitions only: the assignment also holds the changelog
        # partitions this worker keeps standby copies of, which are not its to decide.
        now = {tp.partition for tp in assigned if tp.topic in rt.kinds}
        lost = owned - now
        if lost:
            rt.processor.forget(lost)
            dropped = rt.states.forget(lost) + rt.schedule.store.forget(lost)
            dropped += rt.ids.forget(lost) if rt.ids is not None else 0
            dropped += rt.processor.completer.outbox.forget(lost)  # type: ignore[attr-defined]
            log.info("forgot %d keys of lost partitions %s", dropped, sorted(lost))
        owned.clear()
        owned.update(now)

    @app.on_rebalance_complete.connect
    async def _recovered(app: faust.App, **kwargs: Any) -> None:
        # The assigned partitions' tables are restored: finish what their previous owner
        # left pending in their outboxes now, not at their next event. Not when the
        # signal comes from a recovery a newer rebalance interrupted: the stores are not
        # restored then, and an outbox read from them (its claim written back as the
        # newest) restarts the chain at a stale head (Fence.restored). Looked at when the
        # resume runs: another rebalance may have begun since the signal.
        async def resume() -> None:
            if not rt.fence.restored():
                log.info("a recovery a newer rebalance interrupted ended: waiting for its own")
                return
            await rt.processor.resume(set(owned))
            # What is alive now is long-lived: out of the collector's way (its full
            # collections stop the worker for tens of ms; adapters/collector.py).
            collector.settle()

        task = asyncio.ensure_future(resume())
        _background.add(task)
        task.add_done_callback(_background.discard)

    @app.timer(1.0)
    async def _each_second() -> None:
        await rt.processor.flush_claims()
        if rt.processor.ready.is_set():
            await rt.processor.sync_breaker()

    @app.timer(idsweep.SWEEP_INTERVAL_S)
    async def _purge_decided_ids() -> None:
        # Ids past the changelog's retention leave the local store too (engine/idsweep.py).
        ids = rt.ids
        if ids is None or not owned:
            return
        # The longer of the horizon the changelog was made with and the latest version's.
        horizon = max(rt.policy.dedup_horizon_ms, rt.processor.decider.policy.dedup_horizon_ms)
        cutoff = idsweep.horizon_cutoff(now_ms(), horizon)
        partitions = sorted(owned) if ids.partitioned else [-1]
        dropped = await idsweep.purge(ids, partitions, cutoff)
        metrics.DECIDED_IDS_PURGED.inc(dropped)
        if dropped:
            log.info("dropped %d decided ids older than the horizon and a day", dropped)


_background: set[asyncio.Task[None]] = set()
# At a stop, how long the batches in flight may take to complete before the claims go out.
STOP_COMPLETIONS_S = 5.0


def _index_schedule(app: faust.App, schedule: ExpirySchedule) -> None:
    """The schedule's in-memory index by due time follows the table: rebuilt once the
    partitions assigned in a rebalance are restored."""

    @app.on_rebalance_complete.connect
    async def _restored(app: faust.App, **kwargs: Any) -> None:
        schedule.rebuild()
