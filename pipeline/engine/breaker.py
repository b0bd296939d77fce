"""The enforcement circuit breaker: a guard against mass wrong enforcement.

An emptied or corrupted certification table, a bad policy push or a broken upstream can make
thousands of creators look guilty at once. When the rate of enforcing actions (anything but
warn and flag_for_review) in the last window jumps far above its normal level, the breaker
opens: decisions continue and are logged, marked `held`, but their actions are not emitted
and their state changes are not applied, so nothing irreversible happens. It closes again
when the rate falls back. Held events can be re-sent for a fresh decision
(`livegate breaker release`), which is safe because a held event was never remembered as
decided.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BreakerConfig:
    window_s: float = 10.0  # the rate that is watched: enforcing actions per window
    baseline_s: float = 600.0  # "normal": the mean per window over this much history
    factor: float = 10.0  # open when the window exceeds factor x normal …
    floor: int = 2000  # … and this absolute number (so a start or a quiet period cannot trip it)


class Breaker:
    """Counts enforcing actions in one-second buckets, with running sums: O(1) per decision."""

    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic):
        self.c = config
        self.clock = clock
        self.buckets: deque[list[int]] = deque()  # [second, enforcing actions in it]
        self.in_window = 0  # actions in buckets within the window
        self.before = 0  # actions in older buckets within the baseline
        self.boundary = 0  # index in buckets of the first bucket inside the window
        self.is_open = False
        self.started: float | None = None
        self.latest = 0.0

    def _advance(self, second: int) -> None:
        window_start = second - int(self.c.window_s) + 1
        while self.boundary < len(self.buckets) and self.buckets[self.boundary][0] < window_start:
            n = self.buckets[self.boundary][1]
            self.in_window -= n
            self.before += n
            self.boundary += 1
        baseline_start = second - int(self.c.baseline_s) + 1
        while self.buckets and self.buckets[0][0] < baseline_start:
            _, n = self.buckets.popleft()
            self.before -= n
            self.boundary -= 1

    def rates(self, now: float) -> tuple[int, float]:
        """(enforcing actions in the current window, mean per window before it)."""
        self._advance(int(now))
        started = now if self.started is None else self.started
        history = min(self.c.baseline_s, now - started) - self.c.window_s
        return self.in_window, self.before * self.c.window_s / history if history > 0 else 0.0

    def record(self, enforcing: int, at: float | None = None) -> bool:
        """Count a decision's enforcing actions at time `at` (default: the clock); True when
        they must be held. The worker passes the input record's timestamp, so that catching
        up a backlog (after a failover or an outage) is not mistaken for a spike: only more
        enforcement per second of traffic is."""
        now = max(self.clock() if at is None else at, self.latest)  # never backwards
        self.latest = now
        if self.started is None:
            self.started = now
        second = int(now)
        self._advance(second)
        if enforcing:
            if self.buckets and self.buckets[-1][0] == second:
                self.buckets[-1][1] += enforcing
            else:
                self.buckets.append([second, enforcing])
            self.in_window += enforcing
        window, normal = self.rates(now)
        limit = max(self.c.floor, self.c.factor * normal)
        self.is_open = window > limit
        return self.is_open and enforcing > 0
