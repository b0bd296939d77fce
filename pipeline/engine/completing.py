"""Step 3 of a batch: make it durable, then visible, then done (the transactional outbox).

1. Each partition's plan becomes an outbox entry (pipeline/engine/outbox.py), written to the
   partition's state store and its changelog; nothing else of the batch is sent before every
   entry is acknowledged (acks=all).
2. Then its state writes are applied (creator states, decided ids, expiry schedule) and its
   out-records sent, byte for byte as the entry holds them: the one place that sends.
3. Once all of that is acknowledged the entry is done (the next entry of the partition, or
   the periodic claim, says so) and the input offsets are acked.

`resume` is the other half: the first thing done for a partition after it is assigned.
It reads the partition's outbox from the restored store, applies and re-sends the entries
that are not done, in order, and writes its claim; only then is anything of the partition
decided. The chain head comes from the same place: nothing is read from the decision log,
but after an upgrade from a version without the outbox (`legacy`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from redis.exceptions import RedisError

from pipeline.adapters import metrics
from pipeline.adapters.retry import retry
from pipeline.engine.deciding import Decided
from pipeline.engine.expiries import decode_changes
from pipeline.engine.outbox import (
    CLAIM_KEY,
    RING,
    Claim,
    Entry,
    OutRecord,
    encode_claim,
    encode_entry,
    read_outbox,
)

log = logging.getLogger("livegate.outbox")

# How long a batch's records may take to be delivered before the worker gives up and stops
# unacked (a successor re-sends what is pending): the senders themselves never give up on a
# record (librdkafka: no expiry, so that a partition's last delivery stands for all of its
# records), and this is the old librdkafka default expiry, kept as the worker's patience.
DELIVERY_TIMEOUT_S = 300.0


async def delivered(deliveries: Iterable[Awaitable[Any]], timeout_s: float) -> None:
    """Wait for all of them; TimeoutError after `timeout_s` (no task per call)."""
    async with asyncio.timeout(timeout_s):
        await asyncio.gather(*deliveries)


Send = Callable[[str, bytes | None, bytes, int | None], Awaitable[Awaitable[Any]]]
# Many out-records at once (one produce call per topic partition): their deliveries.
SendMany = Callable[[list[OutRecord]], Awaitable[list[Awaitable[Any]]]]


def one_by_one(send: Send) -> SendMany:
    """A `SendMany` from a one-record `Send` (fakes, tests)."""

    async def send_many(records: list[OutRecord]) -> list[Awaitable[Any]]:
        return [await send(r.topic, r.key, r.value, r.partition) for r in records]

    return send_many


# Entries of a partition in flight at once: below the ring, so a slot is reused only after
# the entry it held is done.
MAX_IN_FLIGHT = RING // 2


class StateStore(Protocol):
    """A changelogged store: writes return the changelog records' deliveries, which must
    succeed before anything that depends on them is sent or acked."""

    def get(self, key: bytes, partition: int | None = None) -> bytes | None: ...
    async def set_many(
        self, writes: list[tuple[bytes, bytes | None, int]]
    ) -> list[Awaitable[Any]]: ...


class Schedule(Protocol):
    async def add(self, key: bytes, changes: Any) -> list[Awaitable[Any]]: ...


class Index(Protocol):
    """The platform index (CONTRACT §11): (platform, creator_id) pairs, added idempotently."""

    async def add(self, pairs: list[tuple[str, str]]) -> None: ...


class Legacy(Protocol):
    """A partition no entry was ever written for: its chain head from the decision log's
    tail (a new partition: genesis), and the previous version's logged decisions."""

    async def __call__(self, partition: int) -> str: ...


class Completer:
    def __init__(
        self, states: StateStore, ids: StateStore, schedule: Schedule, send: SendMany,
        legacy: Legacy, outbox: StateStore | None = None, index: Index | None = None,
    ) -> None:  # fmt: skip
        self.states = states
        self.index = index
        # The entries and claims: a store of their own, whose changelog is compacted within
        # a minute (the ring's keys), so a restore reads little of it whatever the rate.
        self.outbox = outbox if outbox is not None else states
        self.ids = ids
        self.schedule = schedule
        self.send = send
        self.legacy = legacy
        self.delivery_timeout_s = DELIVERY_TIMEOUT_S
        self.resumed: set[int] = set()
        self.seq: dict[int, int] = {}  # the last entry numbered, per partition
        self.done: dict[int, int] = {}  # every entry up to this one is done
        self.done_head: dict[int, str] = {}  # the chain head after entry `done`
        self.claimed: dict[int, int] = {}  # `done` as the last claim wrote it
        self.generation: dict[int, int] = {}

    # ---- 1. durable first -----------------------------------------------------------------
    def entries(self, batch: Decided, heads: dict[int, str]) -> list[Entry]:
        out = []
        for p, plan in sorted(batch.plans.items()):
            seq = self.seq[p] = self.seq.get(p, -1) + 1
            out.append(Entry(seq, plan.generation, p, heads.get(p, ""), self.done.get(p, -1),
                             plan.offsets, plan.writes, plan.out))  # fmt: skip
        return out

    async def write(self, entries: list[Entry]) -> list[Awaitable[Any]]:
        writes: list[tuple[bytes, bytes | None, int]] = []
        for e in entries:
            writes.extend((k, v, e.partition) for k, v in encode_entry(e))
        metrics.OUTBOX_ENTRIES.inc(len(entries))
        return await self.outbox.set_many(writes)

    # ---- 2. visible -----------------------------------------------------------------------
    async def apply(self, entries: Iterable[Entry]) -> list[Awaitable[Any]]:
        """Apply the entries' state writes and send their out-records; their deliveries."""
        states: list[tuple[bytes, bytes | None, int]] = []
        ids: list[tuple[bytes, bytes | None, int]] = []
        deliveries: list[Awaitable[Any]] = []
        out: list[OutRecord] = []
        platforms: list[tuple[str, str]] = []
        for e in entries:
            for w in e.writes:
                if w.store == "states":
                    states.append((w.key, w.value, e.partition))
                elif w.store == "ids":
                    ids.append((w.key, w.value, e.partition))
                elif w.store == "platforms":
                    if w.value is not None:
                        platforms.append((w.value.decode(), w.key.decode()))
                elif w.value is not None:
                    deliveries.extend(await self.schedule.add(w.key, decode_changes(w.value)))
            out.extend(e.out)
        if out:
            deliveries.extend(await self.send(out))
        if platforms and self.index is not None:
            await self._index(platforms)
        if states:
            deliveries.extend(await self.states.set_many(states))
        if ids:
            deliveries.extend(await self.ids.set_many(ids))
        return deliveries

    async def _index(self, pairs: list[tuple[str, str]]) -> None:
        index = self.index
        assert index is not None

        def report(exc: BaseException) -> None:
            log.error("Redis unavailable adding to the platform index (%r); retrying", exc)

        await retry(lambda: index.add(pairs), on=(RedisError, OSError), report=report)

    # ---- 3. done --------------------------------------------------------------------------
    def finished(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            if e.partition in self.resumed and e.seq > self.done.get(e.partition, -1):
                self.done[e.partition] = e.seq
                self.done_head[e.partition] = e.head

    async def claim(self, partitions: Iterable[int] | None = None) -> list[Awaitable[Any]]:
        """Write the claim of the partitions whose `done` moved since their last claim (so
        that a successor does not re-send what is done), or of `partitions` in any case."""
        todo = self.resumed if partitions is None else set(partitions) & self.resumed
        writes: list[tuple[bytes, bytes | None, int]] = []
        for p in sorted(todo):
            done = self.done.get(p, -1)
            if partitions is None and self.claimed.get(p) == done:
                continue
            claim = Claim(done, self.generation.get(p, 0), self.done_head.get(p, ""))
            writes.append((CLAIM_KEY, encode_claim(claim), p))
            self.claimed[p] = done
        return await self.outbox.set_many(writes) if writes else []

    # ---- after an assignment ----------------------------------------------------------------
    async def resume(self, partitions: Iterable[int], generation: int) -> dict[int, str]:
        """Finish the pending entries of newly assigned partitions; their chain heads."""
        heads: dict[int, str] = {}
        for p in sorted(set(partitions) - self.resumed):
            found = read_outbox(lambda key, p=p: self.outbox.get(key, p))
            if found.zombies:
                metrics.OUTBOX_ZOMBIES.inc(len(found.zombies))
                log.error(
                    "partition %d: ignoring %d outbox entries written after the claim by a "
                    "worker that no longer owned it (a zombie), sequence numbers %s",
                    p, len(found.zombies), found.zombies[:10],
                )  # fmt: skip
            if found.unreadable:
                log.error("partition %d: outbox slots %s cannot be read", p, found.unreadable)
            head = found.head if found.head is not None else await self.legacy(p)
            log.info(
                "partition %d resumed: outbox through %d (%d pending), chain head %s…%s",
                p, found.last_seq, len(found.pending), head[:12],
                "" if found.head is not None else " (from the decision log: no outbox)",
            )  # fmt: skip
            if found.pending:
                deliveries = await self.apply(found.pending)
                if deliveries:
                    await delivered(deliveries, self.delivery_timeout_s)
                metrics.OUTBOX_RESENT.inc(len(found.pending))
                log.warning(
                    "partition %d: re-sent %d pending outbox entries (%d records) of its "
                    "previous owner, sequence numbers %d..%d",
                    p, len(found.pending), sum(len(e.out) for e in found.pending),
                    found.pending[0].seq, found.pending[-1].seq,
                )  # fmt: skip
            self.seq[p] = self.done[p] = found.last_seq
            self.done_head[p] = heads[p] = head
            self.generation[p] = generation
            self.resumed.add(p)
            self.claimed.pop(p, None)
            try:
                # The claim fences the previous owners' late entries: durable before any
                # decision, and within the worker's patience (librdkafka never expires a
                # record): a resume that fails is retried whole (the processor's `_resume`).
                claimed = await self.claim([p])
                if claimed:
                    await delivered(claimed, self.delivery_timeout_s)
            except BaseException:
                self.forget([p])
                raise
        return heads

    def forget(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self.resumed.discard(p)
            for d in (self.seq, self.done, self.done_head, self.claimed, self.generation):
                d.pop(p, None)
