"""What console replicas share, in the Redis they already use for the certification table:
each reviewer's session epoch (a sign-out moves it, and every session signed with an older
one is refused) and the failed sign-ins per reviewer id and per address (throttle.py).

Keys, under the configured Redis prefix: `console:epoch:<reviewer>` (an integer) and
`console:fail:<name|addr>:<sha256 of the subject>` (a hash of `count` and `last`, expiring
with the lockout)."""

from __future__ import annotations

import hashlib
from typing import Protocol

from redis.asyncio import Redis

from pipeline.console.throttle import Failures


class ConsoleStore(Protocol):
    async def epoch(self, reviewer_id: str) -> int: ...

    async def end_sessions(self, reviewer_id: str) -> int: ...

    async def failures(self, subjects: list[str]) -> list[Failures]: ...

    async def fail(self, subjects: list[str], now_ms: int, ttl_ms: int) -> list[Failures]: ...

    async def clear(self, subject: str) -> None: ...


class RedisConsoleStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis, self.prefix = redis, prefix + "console:"

    def _epoch_key(self, reviewer_id: str) -> str:
        return f"{self.prefix}epoch:{reviewer_id}"

    def _fail_key(self, subject: str) -> str:
        kind, _, name = subject.partition(":")  # "name:alice", "addr:10.0.0.7"
        return f"{self.prefix}fail:{kind}:{hashlib.sha256(name.encode()).hexdigest()[:32]}"

    async def epoch(self, reviewer_id: str) -> int:
        value = await self.redis.get(self._epoch_key(reviewer_id))
        return int(value) if value is not None else 0

    async def end_sessions(self, reviewer_id: str) -> int:
        """Every session of the reviewer, on every replica, ends: the epoch moves on."""
        return int(await self.redis.incr(self._epoch_key(reviewer_id)))

    async def failures(self, subjects: list[str]) -> list[Failures]:
        pipe = self.redis.pipeline(transaction=False)
        for subject in subjects:
            pipe.hmget(self._fail_key(subject), "count", "last")
        return [_failures(row) for row in await pipe.execute()]

    async def fail(self, subjects: list[str], now_ms: int, ttl_ms: int) -> list[Failures]:
        """One more failure for each subject; the counts after it."""
        pipe = self.redis.pipeline(transaction=True)
        for subject in subjects:
            key = self._fail_key(subject)
            pipe.hincrby(key, "count", 1)
            pipe.hset(key, "last", now_ms)
            pipe.pexpire(key, ttl_ms)
        results = await pipe.execute()
        return [Failures(int(results[3 * i]), now_ms) for i in range(len(subjects))]

    async def clear(self, subject: str) -> None:
        await self.redis.delete(self._fail_key(subject))


def _failures(row: list[bytes | None]) -> Failures:
    count, last = row
    try:
        return Failures(int(count or 0), int(last or 0))
    except ValueError:  # a value written by hand: count it as none rather than fail sign-in
        return Failures()
