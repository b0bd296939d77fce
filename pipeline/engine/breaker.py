"""The enforcement circuit breaker: a guard against mass wrong enforcement.

An emptied or corrupted certification table, a bad policy push or a broken upstream can make
thousands of creators look guilty at once. When the rate of enforcing actions (anything but
warn and flag_for_review) in the last window jumps far above its normal level, the breaker
opens: decisions continue and are logged, marked `held`, but their actions are not emitted
and their state changes are not applied, so nothing irreversible happens. It closes again
when the rate falls back. Held events can be re-sent for a fresh decision
(`livegate breaker release`), which is safe because a held event was never remembered as
decided.

Its history is the fleet's: every worker adds its counts per second to a shared store (Redis)
at most once a second and reads the fleet's back (`sync`), so the floor and the factor apply
to all workers together, and a restarted worker keeps the "normal" the fleet had. Without a
shared store (the engine's unit tests) it counts this worker's decisions alone. A deployment
with no history uses the floor alone until it has some (`livegate breaker seed --normal N`
pre-seeds one).

Its clock is the input records' time (when they were produced), so that catching up a
backlog is not mistaken for a spike: only more enforcement per second of traffic is. Two
things keep that clock honest:
- a record time is never later than the wall clock: one record stamped in the future would
  otherwise pin the clock there and count all later traffic in that one second;
- each decision is counted in the second of its own record, and judged against the window
  and history around that second: a backlog read beside live partitions is counted where it
  happened, not piled onto the live second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class BreakerConfig:
    window_s: float = 10.0  # the rate that is watched: enforcing actions per window
    baseline_s: float = 600.0  # "normal": the mean per window over this much history
    factor: float = 10.0  # open when the window exceeds factor x normal …
    floor: int = 2000  # … and this absolute number (so a start or a quiet period cannot trip it)
    max_seconds: int = 50_000  # seconds of history kept (oldest-created dropped first)


class History(Protocol):
    """The fleet's enforcing actions per second, shared by all workers (adapters/breakerstore)."""

    async def add(self, counts: dict[int, int], started: int) -> None: ...
    async def read(self, first: int, last: int) -> tuple[dict[int, int], int | None]: ...


class Breaker:
    """Enforcing actions counted per second of record time (a sparse dict).

    A decision costs one window sum (window_s dict lookups); the history before the window
    is summed only when the window exceeds the floor, which normal traffic never does.
    """

    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.time):
        self.c = config
        self.clock = clock  # the wall clock, seconds since the epoch: the bound on record time
        self.counts: dict[int, int] = {}  # second of record time -> enforcing actions
        self._sums: dict[tuple[int, int], int] = {}  # (first, last second) -> their sum
        self.is_open = False
        self.started: float | None = None  # record time of the first decision (the fleet's)
        self.latest = 0.0  # the newest (bounded) record time seen
        # This worker's counts not yet added to the fleet's history, and the fleet's counts
        # as last read (this worker's included once added).
        self.pending: dict[int, int] = {}
        self.fleet: dict[int, int] = {}

    def _sum(self, first: int, last: int) -> int:
        # Consecutive decisions mostly fall in the same second: a range summed once is kept
        # (and kept right as counts are added), not summed again per decision.
        known = self._sums.get((first, last))
        if known is not None:
            return known
        get = self.counts.get
        total = sum(get(s, 0) for s in range(first, last + 1))
        if len(self._sums) >= 8:
            self._sums.clear()
        self._sums[(first, last)] = total
        return total

    def _add(self, second: int, enforcing: int) -> None:
        counts = self.counts
        if second in counts:
            counts[second] += enforcing
        else:
            counts[second] = enforcing
            if len(counts) > self.c.max_seconds:
                del counts[next(iter(counts))]
                self._sums.clear()
        for (first, last), total in self._sums.items():
            if first <= second <= last:
                self._sums[(first, last)] = total + enforcing

    def rates(self, now: float) -> tuple[int, float]:
        """(enforcing actions in the window ending at `now`, mean per window before it)."""
        window, second = int(self.c.window_s), int(now)
        in_window = self._sum(second - window + 1, second)
        started = now if self.started is None else self.started
        history = min(self.c.baseline_s, now - started) - self.c.window_s
        if history <= 0:
            return in_window, 0.0
        before = self._sum(second - int(self.c.baseline_s) + 1, second - window)
        return in_window, before * self.c.window_s / history

    def record(self, enforcing: int, at: float | None = None) -> bool:
        """Count a decision's enforcing actions at record time `at` (default: the clock);
        True when they must be held."""
        wall = self.clock()
        now = wall if at is None else min(at, wall)  # a future stamp counts as now
        if now > self.latest:
            self.latest = now
        if self.started is None:
            self.started = now
        if not enforcing and not self.is_open:
            return False  # nothing to count and nothing to close
        second = int(now)
        if enforcing:
            self._add(second, enforcing)
            pending = self.pending
            pending[second] = pending.get(second, 0) + enforcing
        window = self._sum(second - int(self.c.window_s) + 1, second)
        if window <= self.c.floor:
            self.is_open = False
        else:
            _, normal = self.rates(now)
            self.is_open = window > max(self.c.floor, self.c.factor * normal)
        return self.is_open and enforcing > 0

    async def sync(self, history: History) -> None:
        """Add this worker's counts to the fleet's history, and read the fleet's back."""
        pending, self.pending = self.pending, {}
        started = int(self.started if self.started is not None else self.clock())
        try:
            await history.add(pending, started)
        except BaseException:
            for second, n in pending.items():  # added next time
                self.pending[second] = self.pending.get(second, 0) + n
            raise
        now = int(max(self.latest, self.clock()))
        fleet, fleet_started = await history.read(now - int(self.c.baseline_s) - 1, now + 1)
        # The fleet's counts, plus what this worker counted since it added its own.
        counts = dict(fleet)
        for second, n in self.pending.items():
            counts[second] = counts.get(second, 0) + n
        for second, n in self.counts.items():  # older than what is read: kept as counted
            if second < now - int(self.c.baseline_s) - 1:
                counts.setdefault(second, n)
        self.fleet = fleet
        self.counts = counts
        self._sums.clear()
        if fleet_started is not None and (self.started is None or fleet_started < self.started):
            self.started = float(fleet_started)
