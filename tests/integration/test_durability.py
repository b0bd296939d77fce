"""Issue 12 items 5 and 10 on the real broker: a redelivery is a duplicate however many
events came since, and a batch whose state write fails is never acked."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import OffsetAndMetadata

from tests.helpers import event, produce, read_all, wait_for
from tests.integration.conftest import start_pipeline

pytestmark = pytest.mark.integration


async def rewind_group(settings, topic: str) -> None:
    """Move the worker group's committed offsets on `topic` back to the start (what a
    consumer-group reset, or a lost commit, does): every record is delivered again."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                group_id=settings.app_id, enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in tps})
        for tp in tps:
            assert await consumer.committed(tp) == 0, "the group's offsets were not rewound"
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def test_a_redelivery_after_thousands_of_events_deducts_nothing_again(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env)
    s, creator = p.settings, f"hot-{p.uid}"
    link = event("product_linked", creator, f"{creator}-link", link_id="l1", product_id="p1",
                 surface="showcase", product_category="drug")  # fmt: skip
    await produce(s, s.topics.commerce, [(creator.encode(), link)])
    # More events for the creator than the decided-id set holds (2,048), within its horizon.
    reports = [(creator.encode(), event("report", creator, f"{creator}-r{n}", source="user",
                reason="medical_goods", reporter_id=f"u{n}")) for n in range(2_100)]  # fmt: skip
    await produce(s, s.topics.reports, reports)
    await wait_for(s, s.topics.decisions, lambda rs: len(rs) >= 2_101, timeout=120)
    p.workers[0].stop()
    await rewind_group(s, s.topics.commerce)  # the product link is delivered again
    worker = p.add_worker()
    try:
        await asyncio.to_thread(worker.wait_ready)
        marker = f"{creator}-after"
        await produce(s, s.topics.commerce, [(creator.encode(), event(
            "product_unlinked", creator, marker, link_id="l1"))])  # fmt: skip
        await wait_for(s, s.topics.decisions, lambda rs: any(r["event_id"] == marker for r in rs),
                       timeout=90)  # fmt: skip
        decisions = await read_all(s, s.topics.decisions)
        actions = await read_all(s, s.topics.actions)
        linked = [d for d in decisions if d["event_id"] == f"{creator}-link"]
        deductions = [a for a in actions if a["action"] == "deduct_credit"]
        assert len(linked) == 1, "the redelivered link was decided again"
        assert duplicates(worker, "commerce") >= 1, "the link was not delivered again"
        assert [(a["points"], a["credit_after"]) for a in deductions] == [(2, 10)]
    finally:
        worker.stop()


def duplicates(worker, kind: str) -> float:
    import urllib.request

    url = f"http://127.0.0.1:{worker.web_port}/metrics"
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    prefix = f'livegate_events_duplicate_total{{kind="{kind}"}} '
    return sum(float(line[len(prefix) :]) for line in body.splitlines() if line.startswith(prefix))


def topic_config(topic: str, name: str, value: str) -> ConfigResource:
    return ConfigResource(ConfigResourceType.TOPIC, topic, configs={name: value})


async def test_a_failed_changelog_write_stops_the_worker_unacked(stack_env):
    p = await asyncio.to_thread(start_pipeline, stack_env)
    s, creator = p.settings, f"cl-{p.uid}"
    changelog = f"{s.app_id}-creator-state-changelog"
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    try:
        # The broker now refuses every state record (as an ACL denial or a quota would).
        await admin.alter_configs([topic_config(changelog, "max.message.bytes", "64")])
        first = event("stream_started", creator, f"{creator}-e1", stream_id="s1",
                      category="health")  # fmt: skip
        await produce(s, s.topics.live, [(creator.encode(), first)])
        worker = p.workers[0]
        deadline = time.monotonic() + 60
        while worker.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        code = worker.proc.poll()
        worker.stop()
        assert code == 70, "the worker went on with state only in memory"
        await admin.alter_configs([topic_config(changelog, "max.message.bytes", "1048588")])
    finally:
        await admin.close()
    # Its offset was never committed: the next worker decides the event again, identically.
    again = p.add_worker()
    try:
        await asyncio.to_thread(again.wait_ready)
        second = event("stream_ended", creator, f"{creator}-e2", stream_id="s1")
        await produce(s, s.topics.live, [(creator.encode(), second)])
        decisions = await wait_for(
            s, s.topics.decisions,
            lambda rs: any(r["event_id"] == f"{creator}-e2" for r in rs), timeout=90,
        )  # fmt: skip
        firsts = [d for d in decisions if d["event_id"] == f"{creator}-e1"]
        assert len(firsts) >= 1
        strip = ("decided_at", "prev_hash", "hash", "seal")
        assert len({str({k: v for k, v in d.items() if k not in strip}) for d in firsts}) == 1
        # The state was written this time: the stream that was cut off is not live.
        ended = next(d for d in decisions if d["event_id"] == f"{creator}-e2")
        assert ended["state_before"]["credit"] == 8
    finally:
        again.stop()
