"""Issue 12 item 13: a worker forgets the keys it wrote live for partitions it lost (Faust's
memory store forgets only the keys it restored), so its expiry timer stops emitting checks
for creators that moved, and its tombstones do not land in the new owner's changelog."""

from __future__ import annotations

import asyncio

from pipeline.adapters.batchsend import BatchSend
from pipeline.adapters.faust.tables import TableStates


class Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, *, key, value, timestamp):
        self.records.append((key, value))
        return object()


class Producer:
    """aiokafka's batch API, as TableStates uses it (pipeline/adapters/batchsend.py)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int]] = []

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch, topic, *, partition):
        self.sent.extend((topic, value, key, partition) for key, value in batch.records)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class Changelog:
    def get_topic_name(self) -> str:
        return "app-creator-state-changelog"


class Table:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = Changelog()


async def test_the_keys_of_lost_partitions_are_forgotten_and_the_others_kept():
    table, producer = Table(), Producer()
    states = TableStates(table, BatchSend(lambda: producer))  # type: ignore[arg-type]
    await states.set(b"a", b"1", 0)
    await states.set(b"b", b"2", 1)
    await states.set(b"c", b"3", 1)
    table.data[b"restored"] = b"4"  # restored by Faust: its own bookkeeping forgets it
    assert states.forget({1}) == 2
    assert table.data == {b"a": b"1", b"restored": b"4"}
    assert states.forget({1}) == 0  # forgetting twice is harmless
    # Nothing was sent for the forgotten keys: no tombstone reaches the new owner's log.
    assert [(key, partition) for _, _, key, partition in producer.sent] == [
        (b"a", 0),
        (b"b", 1),
        (b"c", 1),
    ]


async def test_a_delete_writes_a_tombstone_and_drops_the_key():
    table, producer = Table(), Producer()
    states = TableStates(table, BatchSend(lambda: producer))  # type: ignore[arg-type]
    await states.set(b"a", b"1", 0)
    await states.set(b"a", None, 0)
    assert table.data == {} and producer.sent[-1][1] is None
