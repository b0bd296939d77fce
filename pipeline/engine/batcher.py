"""Micro-batching that adapts to load: items are handed to a handler in batches, and the
batch is simply whatever arrived while the previous one was being handled.

A batch is what arrived while the previous one was handled, plus a short linger; under
load batches grow by themselves, which amortises the per-batch costs (one Redis round
trip, one lock). Unlike Faust's take(), the producer side never blocks while a batch is
handled (only for backpressure), so consuming and deciding overlap instead of taking turns.

Behind a backlog (`behind()` says more records already wait at the broker than a batch
holds) the linger is extended, step by step up to `linger_max_s`, until the batch is
full: consuming and deciding share one core, so without it a batch is only what a few
milliseconds of consuming delivered, and the per-batch costs are paid every few dozen
events (a fifth of the CPU per event in the bench). At a paced load nothing waits at the
broker, and the linger stays short: latency is not traded for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(
        self, handler: Callable[[list[T]], Awaitable[None]], max_batch: int, high_water: int,
        linger_s: float = 0.0, linger_max_s: float = 0.0,
        behind: Callable[[], bool] = lambda: False,
    ) -> None:  # fmt: skip
        self.handler = handler
        self.linger_s = linger_s
        self.linger_max_s = linger_max_s
        self.behind = behind
        self.max_batch = max_batch
        self.high_water = high_water
        self.items: list[T] = []
        self.ready = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.task: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        self.put([item])
        if self.full():
            await self.room.wait()

    def put(self, items: list[T]) -> None:
        """Hand over many items at once, without waiting (the consumer's bulk hand-off:
        then `full()` says whether to wait for `room` before the next)."""
        self.items.extend(items)
        self.ready.set()
        if self.task is None:
            self.task = asyncio.ensure_future(self._run())
        if len(self.items) >= self.high_water:
            self.room.clear()

    def full(self) -> bool:
        return not self.room.is_set()

    async def _run(self) -> None:
        while True:
            await self.ready.wait()
            if self.linger_s and len(self.items) < self.max_batch:
                # A short wait lets a batch form under load; consuming goes on meanwhile.
                await asyncio.sleep(self.linger_s)
                waited = self.linger_s
                while (
                    len(self.items) < self.max_batch
                    and waited < self.linger_max_s
                    and self.behind()
                ):
                    await asyncio.sleep(self.linger_s)
                    waited += self.linger_s
            batch, self.items = self.items[: self.max_batch], self.items[self.max_batch :]
            if not self.items:
                self.ready.clear()
            if len(self.items) < self.high_water:
                self.room.set()
            await self.handler(batch)
