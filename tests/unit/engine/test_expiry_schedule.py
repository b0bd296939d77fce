"""The expiry schedule writes through the changelogged store and says what to await."""

from __future__ import annotations

import asyncio

from aiokafka.partitioner import murmur2

from pipeline.domain.expiries import Expiry
from pipeline.engine.expiries import ExpirySchedule


class Store:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.sent: list[tuple[bytes, bytes | None, int]] = []

    async def set(self, key, value, partition):
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
        self.sent.append((key, value, partition))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_add_is_idempotent_and_writes_to_the_creators_partition():
    store = Store()
    schedule = ExpirySchedule(store, partitions=6)
    e = Expiry("health", "s1", 1000)
    first = await schedule.add(b"c1", [e])
    again = await schedule.add(b"c1", [e])
    assert len(first) == 1 and again == []
    assert store.sent[0][2] == (murmur2(b"c1") & 0x7FFFFFFF) % 6
    assert schedule.due(999) == [] and schedule.due(1000) == [(b"c1", e)]


async def test_done_deletes_the_key_when_nothing_is_left():
    store = Store()
    schedule = ExpirySchedule(store, partitions=6)
    a, b = Expiry("health", "s1", 1000), Expiry("law", "s2", 2000)
    await schedule.add(b"c1", [a, b])
    await schedule.done(b"c1", [a])
    assert schedule.due(5000) == [(b"c1", b)]
    await schedule.done(b"c1", [b])
    assert b"c1" not in store.data and store.sent[-1][1] is None


async def test_checks_with_and_without_a_stream_sort_together():
    """A while_qualified revocation's check has no stream: mixing it with stream checks of
    the same time and domain must not fail the state write (the kill -9 scenario caught it)."""
    store = Store()
    schedule = ExpirySchedule(store, partitions=6)
    with_stream, without = Expiry("health", "s1", 1000), Expiry("health", None, 1000)
    await schedule.add(b"c1", [with_stream])
    await schedule.add(b"c1", [without])
    assert {e for _, e in schedule.due(1000)} == {with_stream, without}
