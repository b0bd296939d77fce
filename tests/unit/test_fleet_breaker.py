"""Issue 20: the breaker's history is the fleet's (shared, durable): the floor applies to all
workers together, and a restarted worker keeps the normal the fleet had."""

from __future__ import annotations

import pytest

from pipeline.engine.breaker import Breaker, BreakerConfig

CONFIG = BreakerConfig(window_s=10, baseline_s=600, factor=10, floor=200)


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class SharedHistory:
    """The fleet's history (Redis in production): counts per second, and its first second."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.started: int | None = None

    async def add(self, counts: dict[int, int], started: int) -> None:
        for second, n in counts.items():
            self.counts[second] = self.counts.get(second, 0) + n
        if self.started is None:
            self.started = started

    async def read(self, first: int, last: int) -> tuple[dict[int, int], int | None]:
        return {s: n for s, n in self.counts.items() if first <= s <= last}, self.started


async def run(breakers: list[Breaker], clock: Clock, history: SharedHistory, seconds: int,
              per_second: int) -> list[bool]:  # fmt: skip
    """`per_second` enforcing actions a second, spread over the breakers; each syncs once a
    second. Whether each second's actions were held."""
    held = []
    for _ in range(seconds):
        clock.t += 1
        out = []
        for i in range(per_second):
            out.append(breakers[i % len(breakers)].record(1, clock.t))
        held.append(any(out))
        for b in breakers:
            await b.sync(history)
    return held


async def test_two_workers_sharing_one_history_trip_at_the_fleet_floor():
    clock, history = Clock(), SharedHistory()
    a, b = Breaker(CONFIG, clock), Breaker(CONFIG, clock)
    # 30 a second over two workers: 300 per window fleet-wide, above the floor of 200, while
    # each worker alone sees 150 (below it): with per-worker history neither would trip.
    held = await run([a, b], clock, history, 9, 30)
    assert any(held) and a.is_open and b.is_open


async def test_alone_each_worker_would_not_have_tripped():
    clock = Clock()
    a = Breaker(CONFIG, clock)
    held = []
    for _ in range(9):
        clock.t += 1
        held.append(any([a.record(1, clock.t) for _ in range(15)]))
    assert not any(held) and not a.is_open


async def test_a_restarted_worker_keeps_the_fleets_normal():
    clock, history = Clock(), SharedHistory()
    first = Breaker(CONFIG, clock)
    await run([first], clock, history, 600, 40)  # 400 per window: the fleet's normal
    # A new process (a restart) given the same traffic: it reads the history first.
    restarted = Breaker(CONFIG, clock)
    await restarted.sync(history)
    held = await run([restarted], clock, history, 20, 40)
    assert not any(held) and not restarted.is_open
    # Without the shared history it would have held it (its normal starts at 0).
    alone = Breaker(CONFIG, clock)
    assert any(alone.record(1, clock.t + 1) for _ in range(400))


async def test_a_fresh_deployment_with_no_history_trips_only_above_the_floor():
    clock, history = Clock(), SharedHistory()
    b = Breaker(CONFIG, clock)
    await b.sync(history)
    assert not any(await run([b], clock, history, 10, 20))  # 200 per window: at the floor
    clock2, history2 = Clock(), SharedHistory()
    c = Breaker(CONFIG, clock2)
    await c.sync(history2)
    assert any(await run([c], clock2, history2, 9, 25))  # above it


async def test_counts_are_added_again_when_the_history_was_unavailable():
    class Down(SharedHistory):
        async def add(self, counts, started):
            raise ConnectionError("redis down")

    clock = Clock()
    b = Breaker(CONFIG, clock)
    b.record(3, clock.t)
    with pytest.raises(ConnectionError):
        await b.sync(Down())
    history = SharedHistory()
    await b.sync(history)
    assert sum(history.counts.values()) == 3
