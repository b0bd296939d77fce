"""The daily caps' shared counts in Redis (CONTRACT §10, `daily_cap`).

Key layout (documented in the README): `{prefix}cap:{rule_id}:{platform}:{YYYYMMDD}` (UTC day
of the event's `ts`), a sorted set whose members are trigger `event_id`s and whose score is
the event's place in the day's count (1, 2, 3, …), given once, atomically, across workers: a
redelivered event gets its first place again, so it never counts twice. `livegate breaker
release` sets a released event's score to 0 (below any cap). Keys expire 3 days after
their last write.
"""

from __future__ import annotations

from typing import Any, Final

from pipeline.adapters.settings import Settings

TTL_MS: Final = 3 * 86_400_000
_PLACE: Final = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s then return tonumber(s) end
local n = redis.call('ZCARD', KEYS[1]) + 1
redis.call('ZADD', KEYS[1], n, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
"""

CapItem = tuple[str, str, str, str]  # (rule_id, platform, day, event_id)


class CapStore:
    def __init__(self, redis: Any, settings: Settings) -> None:
        self.redis = redis
        self.prefix = settings.redis_prefix + "cap:"
        self.script = redis.register_script(_PLACE)

    def key(self, rule_id: str, platform: str, day: str) -> str:
        return f"{self.prefix}{rule_id}:{platform}:{day}"

    async def places(self, items: list[CapItem]) -> list[int]:
        """Each trigger's place in its (rule, platform, day) count; one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for rule_id, platform, day, event_id in items:
                await self.script(keys=[self.key(rule_id, platform, day)],
                                  args=[event_id, TTL_MS], client=pipe)  # fmt: skip
            return [int(n) for n in await pipe.execute()]

    async def release(self, items: list[CapItem]) -> int:
        """Released by a person: the events' places become 0 (under any cap)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for rule_id, platform, day, event_id in items:
                pipe.zadd(self.key(rule_id, platform, day), {event_id: 0}, xx=True, ch=True)
            return sum(int(n or 0) for n in await pipe.execute())
