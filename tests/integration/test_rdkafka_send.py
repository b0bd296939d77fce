"""The librdkafka sender (pipeline/adapters/rdkafkasend.py) against the real broker: where
each record lands, in what order, what a delivery says, and what a failure does."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import KafkaException

from pipeline.adapters import kafka
from pipeline.adapters.rdkafkasend import RdKafkaSend
from pipeline.adapters.settings import Settings


@pytest.fixture
async def sender(settings: Settings):  # type: ignore[no-untyped-def]
    topic = f"{settings.app_id}.send"
    await kafka.ensure_topics(settings, [kafka.new_topic(settings, topic, 6, {})])
    aio = kafka.producer(settings)
    await aio.start()
    send = RdKafkaSend(settings, lambda: aio)
    yield send, topic
    send.close()
    await aio.stop()


async def test_records_land_where_aiokafka_would_put_them_in_order(sender):  # type: ignore[no-untyped-def]
    send, topic = sender
    keys = [f"creator-{i % 13}".encode() for i in range(300)]
    records = [(topic, k, f"{k.decode()}#{i}".encode(), None) for i, k in enumerate(keys)]
    records.append((topic, b"pinned", b"to partition 5", 5))
    deliveries = await send.send_many(records)
    sent = await asyncio.gather(*(d for _, _, d in deliveries))
    partitions = sorted(range(6))
    expected = {k: DefaultPartitioner()(k, partitions, partitions) for k in set(keys)}
    assert {(t, p) for t, p, _ in deliveries} == {(topic, p) for p in expected.values()} | {
        (topic, 5)
    }
    found = await kafka.read_topic(settings_of(send), topic)
    for partition, got in found.items():
        values = [r.value for r in got]
        for key in {k for k, p in expected.items() if p == partition}:
            mine = [v for v in values if v.startswith(key + b"#")]
            assert mine == [v for _, k, v, _ in records if k == key]  # all, in order
            assert all(r.key == key for r in got if r.value.startswith(key + b"#"))
    assert [r.value for r in found[5] if r.key == b"pinned"] == [b"to partition 5"]
    # Each partition's delivery names its last record's offset.
    for (_, partition, _), meta in zip(deliveries, sent, strict=True):
        assert meta.partition == partition
        assert meta.offset == max(r.offset for r in found[partition])


async def test_a_record_the_broker_refuses_fails_its_delivery(sender):  # type: ignore[no-untyped-def]
    """Never a delivery that waits for ever: the processor stops the worker unacked."""
    send, topic = sender
    huge = b"x" * 2_000_000  # over message.max.bytes
    deliveries = await send.send_many([(topic, b"k", b"fine", 0), (topic, b"k", huge, 1)])
    outcome = await asyncio.gather(*(d for _, _, d in deliveries), return_exceptions=True)
    assert not isinstance(outcome[0], BaseException)
    assert isinstance(outcome[1], KafkaException), outcome


async def test_a_refused_record_before_the_last_fails_its_partition_and_stops_it(sender):  # type: ignore[no-untyped-def]
    """Only a partition's last record reports its delivery: a refusal before it must fail
    the partition's delivery all the same, and nothing after it is sent (no gap)."""
    send, topic = sender
    huge = b"x" * 2_000_000
    deliveries = await send.send_many(
        [(topic, b"k", b"before", 3), (topic, b"k", huge, 3), (topic, b"k", b"after", 3),
         (topic, b"k", b"elsewhere", 4)]
    )  # fmt: skip
    outcome = await asyncio.gather(*(d for _, _, d in deliveries), return_exceptions=True)
    assert [p for _, p, _ in deliveries] == [3, 4]
    assert isinstance(outcome[0], KafkaException), outcome
    assert not isinstance(outcome[1], BaseException)
    found = await kafka.read_topic(settings_of(send), topic)
    assert [r.value for r in found[3]] == [b"before"]
    assert [r.value for r in found[4]] == [b"elsewhere"]


async def test_a_deletion_is_a_tombstone_among_the_partitions_records(sender):  # type: ignore[no-untyped-def]
    """A table's deletion (value None) goes with the partition's other records, as a record
    without a value: what compaction and Faust's recovery take for a deleted key."""
    send, topic = sender
    deliveries = await send.send_many(
        [(topic, b"a", b"1", 2), (topic, b"gone", None, 2), (topic, b"b", b"2", 2)]
    )
    await asyncio.gather(*(d for _, _, d in deliveries))
    found = await kafka.read_topic(settings_of(send), topic)
    assert [(r.key, r.value) for r in found[2]] == [(b"a", b"1"), (b"gone", None), (b"b", b"2")]


async def test_a_partition_refused_whole_fails_its_delivery_not_the_others(sender):  # type: ignore[no-untyped-def]
    """Records librdkafka refuses at once (here: a partition the topic does not have) fail
    their partition's delivery, never wait, and leave the other partitions' alone."""
    send, topic = sender
    await send.send_many([(topic, b"k", b"warm", 0)])  # the topic's metadata is known
    deliveries = await send.send_many(
        [(topic, b"k", b"a", 99), (topic, b"k", b"b", 99), (topic, b"k", b"fine", 1)]
    )
    outcome = await asyncio.wait_for(
        asyncio.gather(*(d for _, _, d in deliveries), return_exceptions=True), 30
    )
    assert isinstance(outcome[0], KafkaException), outcome
    assert not isinstance(outcome[1], BaseException)


async def test_a_record_the_broker_refuses_fails_every_delivery_after_it(settings: Settings):
    """Refused by the broker itself (here: over the topic's max.message.bytes, under the
    client's), not at once: the producer's fatal error (gapless) fails the partition's
    delivery, whose last record is not the refused one, and every later send; none of the
    partition's records after the refused one reaches the log. (A poll thread that died
    of the fatal error had left the worker waiting for ever.)"""
    topic = f"{settings.app_id}.refuse"
    await kafka.ensure_topics(
        settings, [kafka.new_topic(settings, topic, 2, {"max.message.bytes": "64"})]
    )
    aio = kafka.producer(settings)
    await aio.start()
    send = RdKafkaSend(settings, lambda: aio)
    try:
        deliveries = await send.send_many(
            [(topic, b"k", b"x" * 200, 0), (topic, b"k", b"small", 0), (topic, b"k", b"s2", 0)]
        )
        outcome = await asyncio.wait_for(
            asyncio.gather(*(d for _, _, d in deliveries), return_exceptions=True), 30
        )
        assert isinstance(outcome[0], KafkaException), outcome
        later = await send.send_many([(topic, b"k", b"later", 1)])
        with pytest.raises(KafkaException):
            await asyncio.wait_for(later[0][2], 30)
        found = await kafka.read_topic(settings, topic)
        assert not found.get(0) and not found.get(1), found
    finally:
        send.close(timeout_s=1.0)
        await aio.stop()


async def test_a_stop_delivers_what_is_queued(sender):  # type: ignore[no-untyped-def]
    send, topic = sender
    await send.send_many([(topic, None, f"{i}".encode(), 2) for i in range(500)])
    assert send.close() == 0
    found = await kafka.read_topic(settings_of(send), topic)
    assert [r.value for r in found[2]] == [f"{i}".encode() for i in range(500)]


def settings_of(send: RdKafkaSend) -> Settings:
    return send.settings
