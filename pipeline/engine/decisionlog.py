"""The decision log (CONTRACT §5): one record per decided event, SHA-256 chained per partition.

The chain of a partition continues from the last record actually in the log, read when the
worker first writes to that partition after an assignment, so that a new owner extends the
chain its predecessor left instead of forking it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.adapters import kafka
from pipeline.domain.audit import GENESIS

_sorted = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder()


def decision_id(creator_id: str, event_id: str) -> str:
    return hashlib.sha256(f"decision\x1f{creator_id}\x1f{event_id}".encode()).hexdigest()


def seal(record: dict[str, Any], prev_hash: str) -> tuple[bytes, str]:
    """The record's bytes with prev_hash and hash, and the hash.

    hash = SHA-256(prev_hash + canonical JSON of the record without `hash`); the canonical
    form (sorted keys, no spaces) is what msgspec's sorted encoder writes, so the emitted
    bytes are that form with `hash` appended as the last member.
    """
    record["prev_hash"] = prev_hash
    body = _sorted.encode(record)
    digest = hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}', digest


def verify_hash(record: dict[str, Any]) -> bool:
    body = {k: v for k, v in record.items() if k != "hash"}
    digest = hashlib.sha256(str(record.get("prev_hash", "")).encode() + _sorted.encode(body))
    return digest.hexdigest() == record.get("hash")


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
