"""Many records, one produce call per topic partition (aiokafka's batch API).

`AIOKafkaProducer.send` costs tens of microseconds a record in Python: metadata wait,
partitioner, serializers, a future per record, the accumulator's bookkeeping. A batch's
records go to a handful of topic partitions, so here they are grouped by partition, appended
to one `BatchBuilder` each (aiokafka's C record builder), and handed over with one
`send_batch`: one future per partition instead of one per record. Keyed records without a
partition get the one the producer's default partitioner would pick (murmur2 of the key,
as Kafka's Java client), so a record lands where `send` would have put it.

Order is kept: within a partition records are appended in the order given, and a batch
handed over after another for the same partition is sent after it (the accumulator
queues one batch per partition at a time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

Out = tuple[str, bytes | None, bytes | None, int | None]  # topic, key, value, partition
Delivery = tuple[str, int, Awaitable[Any]]  # topic, partition, the batch's delivery
Groups = dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]]
_PARTITIONER = DefaultPartitioner()


class BatchSend:
    def __init__(self, producer: Callable[[], AIOKafkaProducer]) -> None:
        self.producer = producer
        # Partition counts, read once a topic (the worker refuses to start when a topic's
        # count differs from the settings', so they do not change under it).
        self._partitions: dict[str, list[int]] = {}

    async def _all_partitions(self, producer: AIOKafkaProducer, topic: str) -> list[int]:
        found = self._partitions.get(topic)
        if found is None:
            found = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        return found

    async def send_many(self, records: Iterable[Out]) -> list[Delivery]:
        """Send the records; their deliveries, one per topic partition (and batch) in the
        order of the partitions' first records. A delivery's result is the metadata of its
        batch (offset: the batch's first record's)."""
        producer = self.producer()
        return await self._send(producer, await self._groups(producer, records))

    async def _groups(self, producer: AIOKafkaProducer, records: Iterable[Out]) -> Groups:
        """The records by topic partition, each partition's in the order given."""
        groups: Groups = {}
        for topic, key, value, partition in records:
            if partition is None:
                everyone = await self._all_partitions(producer, topic)
                partition = _PARTITIONER(key, everyone, everyone)
            place = (topic, partition)
            group = groups.get(place)
            if group is None:
                group = groups[place] = []
            group.append((key, value))
        return groups

    async def _send(self, producer: AIOKafkaProducer, groups: Groups) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for (topic, partition), items in groups.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # Full (the producer's max_batch_size): this one goes, the next starts
                    # with the record (a batch always takes its first record).
                    sent = await producer.send_batch(batch, topic, partition=partition)
                    deliveries.append((topic, partition, sent))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            sent = await producer.send_batch(batch, topic, partition=partition)
            deliveries.append((topic, partition, sent))
        return deliveries
