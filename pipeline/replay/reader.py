"""Reading whole topics in (partition, offset) order, up to the end offsets seen at start."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline import kafkautil
from pipeline.domain.errors import LiveGateError
from pipeline.records import Record


class TopicMissing(LiveGateError):
    pass


Raw = Record  # a record read back from a topic (no kind)


async def read_topic(
    where: kafkautil.Target,
    topic: str,
    progress: Callable[[int, int], None] | None = None,
    required: bool = True,
) -> dict[int, list[Raw]]:
    """Every record of every partition, by partition, in offset order.

    `progress(read, total)` is called after each fetch.
    """
    bootstrap, security = kafkautil.target(where)
    numbers = await kafkautil.partitions(where, topic)
    if not numbers:
        if required:
            raise TopicMissing(f"topic {topic} not found at {bootstrap}")
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
        **security,
    )
    await consumer.start()
    out: dict[int, list[Raw]] = {p: [] for p in numbers}
    try:
        tps = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        total = sum(end[tp] - begin[tp] for tp in tps)
        done = 0
        remaining = {tp for tp in tps if end[tp] > begin[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=20_000)
            for tp, records in batch.items():
                rows = out[tp.partition]
                for r in records:
                    if r.offset >= end[tp]:
                        remaining.discard(tp)
                        break
                    rows.append(Raw(topic, tp.partition, r.offset, r.key, r.value, r.timestamp))
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
    finally:
        await consumer.stop()
    return out
