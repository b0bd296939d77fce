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

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from pipeline.adapters import metrics
from pipeline.adapters.settings import Settings
from pipeline.domain.certifications import (
    Certification,
    CertSnapshot,
    apply_change,
    decode_certification,
    encode_certification,
)
from pipeline.domain.errors import LiveGateError
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
class Unreadable:
    """A creator whose stored certification value LiveGate cannot read (CONTRACT v2 §3): not
    JSON, an unknown status, a key that is not a hash. Their events are dead letters
    (`bad_certification`) until the value is fixed; nobody else is held up."""

    key: str
    detail: str


Entry = CertSnapshot | Unreadable


@dataclass(frozen=True)
class Lookup:
    epoch: int
    loaded: bool
    snapshots: dict[str, Entry]


def connect(settings: Settings, **options: object) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url.reveal(),
        socket_timeout=options.pop("socket_timeout", 5.0),
        socket_connect_timeout=options.pop("socket_connect_timeout", 3.0),
        health_check_interval=30,
        **options,
    )


def parse_hash(raw: dict[bytes, bytes], creator_id: str = "?") -> CertSnapshot:
    """The creator's hash as a snapshot; raises LiveGateError naming what is unreadable."""
    snapshot: CertSnapshot = {}
    for field, value in raw.items():
        domain = field.decode("utf-8", "backslashreplace")
        try:
            snapshot[domain] = decode_certification(value)
        except LiveGateError as exc:
            raise LiveGateError(f"field {domain!r}: {exc}") from None
    return snapshot


def parse_entry(key: str, reply: object, creator_id: str) -> Entry:
    """One creator's reply in a lookup: a snapshot, or what makes it unreadable."""
    if isinstance(reply, ResponseError):  # e.g. WRONGTYPE: the key is not a hash
        return Unreadable(key, f"the key is not a hash ({reply})")
    if not isinstance(reply, dict):
        return Unreadable(key, f"unexpected reply {type(reply).__name__}")
    try:
        return parse_hash(reply, creator_id)
    except LiveGateError as exc:
        return Unreadable(key, str(exc))


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
        # A bad key fails its own command, not the trip: every reply comes back.
        replies = await pipe.execute(raise_on_error=False)
        self._trip()
        for reply in replies[:2]:
            if isinstance(reply, Exception):  # the epoch or loaded key itself is unusable
                raise reply
        snaps = {c: parse_entry(self.key(c), r, c) for c, r in zip(names, replies[2:], strict=True)}
        return Lookup(int(replies[0] or 0), bool(replies[1]), snaps)

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
                if isinstance(raw, ResponseError):
                    # Not a hash: nothing can be written there; the change's own event is
                    # a `bad_certification` dead letter when it is decided.
                    log.error("cannot apply %s: %s is not a hash (%s)", changes[i].event_id,
                              self.key(changes[i].creator_id), raw)  # fmt: skip
                    continue
                new = apply_change(self._stored(raw, changes[i]), changes[i])
                if new is not None:
                    writes.append((i, raw or b"", encode_certification(new)))
            retry = await self._write(changes, writes)
            for i, _, _ in writes:
                applied[i] = i not in retry
            pending = sorted(retry | set(later))
        return applied

    def _stored(self, raw: bytes | None, change: CertChange) -> Certification | None:
        if not raw:
            return None
        try:
            return decode_certification(raw)
        except LiveGateError as exc:  # an unreadable value: the change replaces it
            log.error("replacing unreadable certification %s/%s: %s",
                      change.creator_id, change.domain, exc)  # fmt: skip
            return None

    async def _read(self, changes: Sequence[CertChange]) -> list[bytes | ResponseError | None]:
        pipe = self.client.pipeline(transaction=False)
        for change in changes:
            pipe.hget(self.key(change.creator_id), change.domain)
        self._trip()
        return list(await pipe.execute(raise_on_error=False))

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
