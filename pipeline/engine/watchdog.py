"""Freeze detection: a worker that was stopped (SIGSTOP, a VM pause, a huge GC pause) for
longer than the consumer session timeout has lost its partitions to another worker, but
its code resumes mid-batch as if nothing happened. The watchdog ticks on the event loop;
a gap between ticks longer than the limit marks the process as frozen, and the processor
then exits before writing any state it may no longer own (CONTRACT: no duplicate effect)."""

from __future__ import annotations

import asyncio
import time


class FreezeWatch:
    def __init__(self, limit_s: float, tick_s: float = 0.1) -> None:
        self.limit_s = limit_s
        self.tick_s = tick_s
        self.last_tick = time.monotonic()
        self.frozen_for: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self.last_tick = time.monotonic()
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self._observe(time.monotonic())

    def _observe(self, now: float) -> None:
        gap = now - self.last_tick
        if gap > self.limit_s and self.frozen_for is None:
            self.frozen_for = gap
        self.last_tick = now

    def frozen(self) -> float | None:
        """How long the loop stood still, if ever longer than the limit (sticky); None
        before `start` (the time before it is the worker's start-up, not a freeze)."""
        if self._task is None:
            return None
        self._observe(time.monotonic())
        return self.frozen_for
