"""The Redis certification table of CONTRACT §3: batched reads, ordered compare-and-set writes.

Layout: hash `<prefix>cert:<creator_id>`, field = domain, value = certification JSON;
`<prefix>cert-epoch` is incremented after every change; `<prefix>cert-loaded` marks a
complete table. Ordering of changes is the domain's (`apply_change`); Redis only guarantees
that nobody wrote the field between our read and our write (Lua compare-and-set).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from pipeline.adapters import metrics
from pipeline.adapters.settings import Settings
from pipeline.domain.certifications import (
    CertSnapshot,
    apply_change,
    decode_certification,
    encode_certification,
)
from pipeline.domain.events import CertificationGranted, CertificationRevoked

log = logging.getLogger(__name__)

CertChange = CertificationGranted | CertificationRevoked

# KEYS: cert hash, epoch key. ARGV: domain, expected current value ('' = absent), new value.
_CAS = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[2])
return 1
"""


@dataclass(frozen=True)
class Lookup:
    epoch: int
    loaded: bool
    snapshots: dict[str, CertSnapshot]


def connect(settings: Settings, **options: object) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url.reveal(),
        socket_timeout=options.pop("socket_timeout", 5.0),
        socket_connect_timeout=options.pop("socket_connect_timeout", 3.0),
        health_check_interval=30,
        **options,
    )


def parse_hash(raw: dict[bytes, bytes], creator_id: str = "?") -> CertSnapshot:
    snapshot: CertSnapshot = {}
    for field, value in raw.items():
        domain = field.decode()
        try:
            snapshot[domain] = decode_certification(value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("unreadable certification %s/%s in Redis: %s", creator_id, domain, exc)
    return snapshot


class CertStore:
    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.prefix = settings.cert_prefix
        self.epoch_key = settings.epoch_key
        self.loaded_key = settings.loaded_key
        self._cas = client.register_script(_CAS)
        self.round_trips = 0

    def key(self, creator_id: str) -> str:
        return self.prefix + creator_id

    def _trip(self) -> None:
        self.round_trips += 1
        metrics.REDIS_ROUND_TRIPS.inc()

    async def snapshot(self, creator_id: str) -> CertSnapshot:
        self._trip()
        return parse_hash(await self.client.hgetall(self.key(creator_id)), creator_id)

    async def lookup(self, creators: Iterable[str]) -> Lookup:
        """Epoch, loaded flag and the given creators' certifications in one round trip."""
        names = list(creators)
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.epoch_key)
        pipe.exists(self.loaded_key)
        for creator in names:
            pipe.hgetall(self.key(creator))
        replies = await pipe.execute()
        self._trip()
        snaps = {c: parse_hash(r, c) for c, r in zip(names, replies[2:], strict=True)}
        return Lookup(int(replies[0] or 0), bool(replies[1]), snaps)

    async def is_loaded(self) -> bool:
        return bool(await self.client.exists(self.loaded_key))

    async def mark_loaded(self, at_ms: int) -> None:
        await self.client.set(self.loaded_key, str(at_ms))

    async def apply(self, changes: Sequence[CertChange], chunk: int = 1000) -> list[bool]:
        """Apply changes in order; returns, per change, whether it changed the table."""
        results: list[bool] = []
        for start in range(0, len(changes), chunk):
            results.extend(await self._apply_chunk(changes[start : start + chunk]))
        return results

    async def _apply_chunk(self, changes: Sequence[CertChange]) -> list[bool]:
        # Changes to the same (creator, domain) inside one chunk must see each other.
        applied = [False] * len(changes)
        pending = list(range(len(changes)))
        while pending:
            first_seen: dict[tuple[str, str], int] = {}
            wave, later = [], []
            for i in pending:
                slot = (changes[i].creator_id, changes[i].domain)
                (later if slot in first_seen else wave).append(i)
                first_seen.setdefault(slot, i)
            current = await self._read([changes[i] for i in wave])
            writes = []
            for i, raw in zip(wave, current, strict=True):
                stored = decode_certification(raw) if raw else None
                new = apply_change(stored, changes[i])
                if new is not None:
                    writes.append((i, raw or b"", encode_certification(new)))
            retry = await self._write(changes, writes)
            for i, _, _ in writes:
                applied[i] = i not in retry
            pending = sorted(retry | set(later))
        return applied

    async def _read(self, changes: Sequence[CertChange]) -> list[bytes | None]:
        pipe = self.client.pipeline(transaction=False)
        for change in changes:
            pipe.hget(self.key(change.creator_id), change.domain)
        self._trip()
        return list(await pipe.execute())

    async def _write(
        self, changes: Sequence[CertChange], writes: list[tuple[int, bytes, bytes]]
    ) -> set[int]:
        if not writes:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for i, expected, new in writes:
            change = changes[i]
            await self._cas(
                keys=[self.key(change.creator_id), self.epoch_key],
                args=[change.domain, expected, new],
                client=pipe,
            )
        self._trip()
        replies = await pipe.execute()
        return {i for (i, _, _), r in zip(writes, replies, strict=True) if int(r) < 0}

    async def replace(self, creator_id: str, domain: str, expected: bytes, new: bytes) -> bool:
        """Write one value if the field still holds `expected` (b'' = absent), epoch
        incremented (the compare-and-set of `apply`); False when it changed meanwhile."""
        self._trip()
        reply = await self._cas(keys=[self.key(creator_id), self.epoch_key],
                                args=[domain, expected, new])  # fmt: skip
        return int(reply) > 0
