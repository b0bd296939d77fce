"""The circuit breaker's fleet-wide history in Redis: enforcing actions per second.

Keys (under the Redis prefix and the app id, so two deployments sharing a Redis do not mix):
`<prefix>breaker:<app>:s:<second>` (an integer, INCRBY by each worker at most once a second,
expiring after the baseline and an hour) and `<prefix>breaker:<app>:started` (the first
second of the fleet's history, set once; refreshed while workers run).
"""

from __future__ import annotations

from typing import Any

from pipeline.adapters.settings import Settings

# Kept beyond the baseline (10 minutes) so a restart within the hour finds its normal.
TTL_S = 600 + 3600


class BreakerHistory:
    def __init__(self, redis: Any, settings: Settings) -> None:
        self.redis = redis
        self.base = f"{settings.redis_prefix}breaker:{settings.app_id}:"

    def key(self, second: int) -> str:
        return f"{self.base}s:{second}"

    async def add(self, counts: dict[int, int], started: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for second, n in counts.items():
                if n:
                    pipe.incrby(self.key(second), n)
                    pipe.expire(self.key(second), TTL_S)
            pipe.set(self.base + "started", started, nx=True)
            pipe.expire(self.base + "started", TTL_S)
            await pipe.execute()

    async def read(self, first: int, last: int) -> tuple[dict[int, int], int | None]:
        seconds = list(range(first, last + 1))
        values = await self.redis.mget([self.key(s) for s in seconds] + [self.base + "started"])
        counts = {s: int(v) for s, v in zip(seconds, values[:-1], strict=True) if v}
        started = values[-1]
        return counts, (int(started) if started is not None else None)

    async def seed(self, normal: int, window_s: int, baseline_s: int, now: int) -> int:
        """Write a history whose normal is `normal` enforcing actions per window: the
        baseline before the window, spread evenly; returns the seconds written."""
        first, last = now - baseline_s + 1, now - window_s
        per, extra = divmod(normal, window_s)
        async with self.redis.pipeline(transaction=False) as pipe:
            for i, second in enumerate(range(first, last + 1)):
                n = per + (1 if i % window_s < extra else 0)
                pipe.set(self.key(second), n, ex=TTL_S)
            pipe.set(self.base + "started", first, ex=TTL_S)
            await pipe.execute()
        return last - first + 1
