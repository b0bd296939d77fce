"""The platform index in Redis (CONTRACT §11): one set per platform of the creators whose state
names it, `<prefix>platform:<name>` (default `livegate:platform:douyin`).

Workers add a creator when its platform is first recorded (an outbox write, so a successor
re-applies it after a crash); `livegate policy sweep` reads it, since the certification table
has no platform. Adding is idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import redis.asyncio as aioredis

from pipeline.adapters.settings import Settings


class PlatformIndex:
    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.prefix = settings.redis_prefix + "platform:"

    def key(self, platform: str) -> str:
        return self.prefix + platform

    async def add(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Add (platform, creator_id) pairs, one round trip."""
        by_platform: dict[str, list[str]] = {}
        for platform, creator in pairs:
            by_platform.setdefault(platform, []).append(creator)
        if not by_platform:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for platform, creators in by_platform.items():
                pipe.sadd(self.key(platform), *creators)
            await pipe.execute()

    async def members(self, platform: str, batch: int = 1000) -> AsyncIterator[str]:
        async for raw in self.client.sscan_iter(self.key(platform), count=batch):
            yield raw.decode() if isinstance(raw, bytes) else str(raw)

    async def count(self, platform: str) -> int:
        return int(await self.client.scard(self.key(platform)))
