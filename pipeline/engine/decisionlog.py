"""The decision log (CONTRACT §5): one record per decided event, SHA-256 chained per partition.

The chain of a partition continues from the last record actually in the log, read when the
worker first writes to that partition after an assignment, so that a new owner extends the
chain its predecessor left instead of forking it.
"""

from __future__ import annotations

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.adapters import kafka
from pipeline.domain.audit import GENESIS

_decoder = msgspec.json.Decoder()


class ChainHeads:
    """The last hash per decisions partition this worker writes to."""

    def __init__(self, bootstrap: kafka.Target, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.heads: dict[int, str] = {}

    def forget(self) -> None:
        """After a rebalance another worker may have written: read the tails again."""
        self.heads.clear()

    async def ensure(self, partitions: set[int]) -> None:
        missing = [p for p in partitions if p not in self.heads]
        if missing:
            self.heads.update(await read_tails(self.bootstrap, self.topic, missing))


async def read_tails(where: kafka.Target, topic: str, partitions: list[int]) -> dict[int, str]:
    bootstrap, security = kafka.target(where)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
        isolation_level="read_uncommitted", **security,
    )  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        heads = {}
        for tp in tps:
            if ends[tp] == 0:
                heads[tp.partition] = GENESIS
                continue
            consumer.seek(tp, ends[tp] - 1)
            records = (await consumer.getmany(tp, timeout_ms=10_000)).get(tp, [])
            last = records[-1] if records else None
            heads[tp.partition] = _decoder.decode(last.value)["hash"] if last else GENESIS
        return heads
    finally:
        await consumer.stop()
