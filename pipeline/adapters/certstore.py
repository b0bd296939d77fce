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
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from pipeline.adapters import metrics
from pipeline.adapters.settings import (
    SENTINEL_SCHEME,
    SentinelUrl,
    Settings,
    parse_sentinel_url,
)
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
    # Which master answered (Sentinel; "" for a plain server). After a failover the new
    # master's epoch can equal, or be behind, the old one's: caches key on both.
    server: str = ""


def connect(settings: Settings, **options: object) -> aioredis.Redis:
    """A client of the Redis LIVEGATE_REDIS_URL names: a server, or the master that Redis
    Sentinel names (`redis+sentinel://`), found again after every failover."""
    url = settings.redis_url.reveal()
    timeouts = {
        "socket_timeout": options.pop("socket_timeout", 5.0),
        "socket_connect_timeout": options.pop("socket_connect_timeout", 3.0),
    }
    if urlsplit(url).scheme == SENTINEL_SCHEME:
        return _sentinel_master(parse_sentinel_url(url), timeouts, options)
    return aioredis.Redis.from_url(url, health_check_interval=30, **timeouts, **options)


class _SentinelMaster(aioredis.Redis):
    """The master's client; closing it closes the Sentinels' clients too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()


def _sentinel_master(
    url: SentinelUrl, timeouts: dict[str, object], options: dict[str, object]
) -> aioredis.Redis:
    manager = Sentinel(url.sentinels, sentinel_kwargs=dict(timeouts))
    client: aioredis.Redis = manager.master_for(
        url.service, redis_class=_SentinelMaster, db=url.db, username=url.username,
        password=url.password, health_check_interval=30, **timeouts, **options,
    )  # fmt: skip
    return client


def master_address(client: aioredis.Redis) -> str:
    """The master a Sentinel-managed client last connected to ("" for a plain server)."""
    address = getattr(client.connection_pool, "master_address", None)
    return f"{address[0]}:{address[1]}" if address else ""


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
        sentinel = isinstance(self.client.connection_pool, SentinelConnectionPool)
        if sentinel:  # in the same trip: is the server that answers still the master?
            pipe.execute_command("ROLE")
        # A bad key fails its own command, not the trip: every reply comes back.
        replies = await pipe.execute(raise_on_error=False)
        self._trip()
        if sentinel:
            await self._still_master(replies.pop())
        for reply in replies[:2]:
            if isinstance(reply, Exception):  # the epoch or loaded key itself is unusable
                raise reply
        snaps = {c: parse_entry(self.key(c), r, c) for c, r in zip(names, replies[2:], strict=True)}
        return Lookup(int(replies[0] or 0), bool(replies[1]), snaps, master_address(self.client))

    async def _still_master(self, role: object) -> None:
        """A demoted master still answers reads (stale after a failover, until it syncs):
        refuse them, reconnect through Sentinel, and let the caller retry."""
        if isinstance(role, list) and role and role[0] in (b"master", "master"):
            return
        await self.client.connection_pool.disconnect()
        raise RedisConnectionError(
            f"Redis at {master_address(self.client)} is no longer the master (a Sentinel "
            "failover): asking Sentinel for the new one"
        )

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
