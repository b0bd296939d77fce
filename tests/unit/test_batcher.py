"""The batcher: order kept, batches grow while the handler is busy, backpressure holds."""

import asyncio

from pipeline.engine.batcher import Batcher


async def test_items_arrive_in_order_and_batches_grow_while_the_handler_is_busy():
    seen: list[list[int]] = []
    gate = asyncio.Event()

    async def handler(batch: list[int]) -> None:
        seen.append(batch)
        await gate.wait()  # the first batch is slow: the rest accumulate meanwhile

    b: Batcher[int] = Batcher(handler, max_batch=100, high_water=1000)
    await b.add(0)
    await asyncio.sleep(0)
    for i in range(1, 50):
        await b.add(i)
    gate.set()
    await asyncio.sleep(0.01)
    assert seen[0] == [0]
    assert seen[1] == list(range(1, 50))
    assert [i for batch in seen for i in batch] == list(range(50))


async def test_batches_never_exceed_the_maximum():
    seen: list[list[int]] = []

    async def handler(batch: list[int]) -> None:
        seen.append(batch)

    b: Batcher[int] = Batcher(handler, max_batch=7, high_water=1000, linger_s=0.01)
    for i in range(30):
        await b.add(i)
    await asyncio.sleep(0.1)
    assert max(len(batch) for batch in seen) == 7
    assert [i for batch in seen for i in batch] == list(range(30))


async def test_add_waits_at_the_high_water_mark_until_the_handler_takes_a_batch():
    release = asyncio.Event()

    async def handler(batch: list[int]) -> None:
        await release.wait()

    b: Batcher[int] = Batcher(handler, max_batch=5, high_water=10)
    await b.add(0)
    await asyncio.sleep(0)  # the handler holds item 0
    for i in range(1, 10):
        await b.add(i)
    blocked = asyncio.ensure_future(b.add(10))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    release.set()
    await asyncio.wait_for(blocked, 1)


async def test_behind_a_backlog_the_linger_extends_until_the_batch_is_full():
    seen: list[list[int]] = []

    async def handler(batch: list[int]) -> None:
        seen.append(batch)

    async def feed(b: Batcher[int], n: int) -> None:
        for i in range(n):
            await b.add(i)
            await asyncio.sleep(0.001)  # a slow trickle: ~1 item per ms

    behind = True
    b: Batcher[int] = Batcher(
        handler, max_batch=20, high_water=1000, linger_s=0.002, linger_max_s=1.0,
        behind=lambda: behind,
    )  # fmt: skip
    await feed(b, 40)
    await asyncio.sleep(0.05)
    assert [len(batch) for batch in seen[:2]] == [20, 20]  # full batches, not 2 ms worth

    seen.clear()
    behind = False
    await feed(b, 40)
    await asyncio.sleep(0.05)
    assert len(seen) > 4 and max(len(batch) for batch in seen) < 20  # the short linger only


async def test_put_hands_over_many_at_once_and_full_says_when_to_wait_for_room():
    seen: list[list[int]] = []
    release = asyncio.Event()

    async def handler(batch: list[int]) -> None:
        seen.append(batch)
        await release.wait()

    b: Batcher[int] = Batcher(handler, max_batch=5, high_water=8)
    b.put(list(range(3)))
    assert not b.full()
    await asyncio.sleep(0)  # the handler holds the first batch
    b.put(list(range(3, 12)))  # one hand-off may pass the mark: nothing is refused
    assert b.full()
    room = asyncio.ensure_future(b.room.wait())
    await asyncio.sleep(0.01)
    assert not room.done()
    release.set()
    await asyncio.wait_for(room, 1)
    await asyncio.sleep(0.01)
    assert [i for batch in seen for i in batch] == list(range(12))
    assert max(len(batch) for batch in seen) <= 5
