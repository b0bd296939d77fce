"""The batch processor: the I/O around the pure domain, in three steps of their own.

Agents hand it batches of raw records (with an `ack` to call). For a batch it:
1. decodes every record; one that cannot be decided becomes a dead letter
   (pipeline/engine/decoding.py);
2. reads the certifications of the batch's creators (one Redis round trip, cache + epoch);
   while Redis is down or the table is not loaded, it waits and retries: late, never wrong;
3. under a lock (one order for the hash chain and the states), finishes what a previous
   owner left pending for newly assigned partitions, decides each event in order with the
   pure `decide()` into one plan per input partition (pipeline/engine/deciding.py), and
   writes those plans as the partitions' outbox entries (durable first);
4. in the background, once the entries are acknowledged: applies the state writes, sends
   the out-records, and once all of that is acknowledged acks the input offsets
   (pipeline/engine/completing.py). The next batch is decided while this one completes;
   batches complete and are acked in the order they were decided.
Anything unexpected stops the worker without acking (`fatal`), never a silent skip.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from pipeline.adapters import metrics
from pipeline.adapters.certstore import Entry
from pipeline.adapters.platformindex import PlatformIndex
from pipeline.adapters.records import Record
from pipeline.adapters.retry import retry
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.domain.activation import PolicyBook
from pipeline.domain.policy import Policy
from pipeline.engine.breaker import Breaker, BreakerConfig, History
from pipeline.engine.certcache import CertCache, TableNotLoaded
from pipeline.engine.completing import (
    MAX_IN_FLIGHT,
    Completer,
    Schedule,
    Send,
    SendMany,
    StateStore,
    delivered,
    one_by_one,
)
from pipeline.engine.deciding import Decided, Decider, DecisionHook
from pipeline.engine.decoding import Decoder
from pipeline.engine.outbox import Entry as OutboxEntry
from pipeline.engine.recovery import RecentDecisions
from pipeline.engine.watchdog import FreezeWatch

__all__ = ["DecisionHook", "Processor", "Send", "SendMany", "StateStore", "fatal"]
log = logging.getLogger("livegate.processor")
Ack = Callable[[], Awaitable[None]]


def fatal(message: str, exc: BaseException) -> None:
    """Stop at once without acking: the batch is redelivered to whoever takes over."""
    log.critical("%s: %r; exiting so the batch is redelivered", message, exc)
    logging.shutdown()
    os._exit(70)


class Processor:
    def __init__(
        self, settings: Settings, policy: Policy | PolicyBook, cert_cache: CertCache,
        states: StateStore,
        send: Send | None, chain: Any, partitions_of: Callable[[str], int | None],
        schedule: Schedule, session_timeout_s: float = 10.0,
        max_in_flight: int = MAX_IN_FLIGHT, clock: Callable[[], int] = now_ms,
        prepare: Callable[[], Awaitable[None]] | None = None,
        fence: Callable[[Record], bool] = lambda record: True,
        settled: Callable[[], Awaitable[None]] | None = None,
        recent: RecentDecisions | None = None, ids: StateStore | None = None,
        generation: Callable[[], int] = lambda: 0, breaker_history: History | None = None,
        outbox: StateStore | None = None, send_many: SendMany | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.cert_cache = cert_cache
        self.states = states
        self.clock = clock
        self.decoder = Decoder(settings, partitions_of, clock)
        self.breaker = Breaker(BreakerConfig(
            window_s=settings.breaker_window_s, factor=settings.breaker_factor,
            floor=settings.breaker_floor,
        ))  # fmt: skip
        self.breaker_history = breaker_history
        ids = ids if ids is not None else states
        self.decider = Decider(settings, policy, self.decoder, states, ids, self.breaker, clock)
        self.decider.recent = recent
        self.chain = chain
        self.recent = recent
        # The platform index (CONTRACT §11, for sweeps) lives next to the certification table.
        client = getattr(getattr(cert_cache, "store", None), "client", None)
        index = PlatformIndex(client, settings) if client is not None else None
        if send_many is None:  # a one-record `send` (fakes, tests) is sent one by one
            if send is None:
                raise ValueError("a Processor needs send_many or send")
            send_many = one_by_one(send)
        self.completer = Completer(
            states, ids, schedule, send_many, self._legacy, outbox, index
        )  # fmt: skip
        self.generation = generation
        # Run once before the first batch (e.g. fetch producer metadata for the changelogs);
        # `ready` is set once it has run, and nothing is decided or emitted before.
        self._prepare = prepare
        self.ready = asyncio.Event()
        # Whether a record is still this worker's (its partition continuously assigned since
        # it was fetched), and a wait for a rebalance under way to settle: a batch that is
        # not is dropped unacked before it is decided or applied, and the partition's owner
        # finishes it from its outbox entry or reads it again (agents/runtime.py, Fence).
        self.fence = fence
        self.settled = settled
        self.watch = FreezeWatch(limit_s=session_timeout_s)
        # Pipelining: batches complete in decide order; a bound on batches in flight.
        self.last_issued: asyncio.Future[None] | None = None
        self.last_done: asyncio.Future[None] | None = None
        # Counts the batches fenced before they were applied. A batch decided before one
        # of them was decided on top of it (its states, its chain head): it is fenced too.
        self.fences = 0
        self.slots = asyncio.Semaphore(max_in_flight)
        self.completions: set[asyncio.Task[None]] = set()
        self.lock = asyncio.Lock()
        self._last_warning = 0.0
        # v3 (CONTRACT §10): waits while the worker may not decide (it has not read the
        # policies topic recently: engine/activations.py), and the daily caps' counter.
        self.policy_gate: Callable[[], Awaitable[None]] | None = None
        self.caps: Any = None  # adapters/capstore.CapStore, when Redis is there

    @property
    def policy(self) -> Policy:
        """The latest activated policy version."""
        return self.decider.book.latest

    @property
    def book(self) -> PolicyBook:
        return self.decider.book

    def set_book(self, book: PolicyBook) -> None:
        """New versions read: later batches are decided by this book (one per batch)."""
        self.decider.book = book

    @property
    def hooks(self) -> list[DecisionHook]:
        return self.decider.hooks

    # ---- look up ---------------------------------------------------------------------------
    async def lookup(self, creators: set[str]) -> dict[str, Entry]:
        def report(exc: BaseException) -> None:
            if isinstance(exc, TableNotLoaded):
                metrics.REDIS_ERRORS.labels("not_loaded").inc()
                self._warn(f"{exc}: deciding nothing, holding the batch until it is loaded")
            else:
                metrics.REDIS_ERRORS.labels("unavailable").inc()
                self._warn(f"Redis unavailable ({exc}): holding the batch, retrying")

        async def read() -> dict[str, Entry]:
            started = time.perf_counter()
            found = await self.cert_cache.get_many(creators)
            metrics.REDIS_LATENCY.observe(time.perf_counter() - started)
            return found

        return await retry(read, on=(TableNotLoaded, RedisError, OSError), report=report)

    async def apply_cert_changes(self, records: Sequence[Record]) -> None:
        """Write the batch's certification changes to Redis before deciding them."""
        good, _ = self.decoder.decode([r for r in records if r.kind == "certs"])
        changes = [e for _, e in good]
        if not changes:
            return

        def report(exc: BaseException) -> None:
            metrics.REDIS_ERRORS.labels("unavailable").inc()
            log.error("Redis unavailable applying certification changes (%s); retrying", exc)

        store = self.cert_cache.store
        applied = await retry(
            lambda: store.apply(changes),  # type: ignore[arg-type]
            on=(RedisError, OSError), report=report,
        )  # fmt: skip
        for changed in applied:
            metrics.CERT_CHANGES.labels("applied" if changed else "ignored").inc()

    async def _prepare_once(self) -> None:
        if self._prepare is not None:
            prepare = self._prepare

            def report(exc: BaseException) -> None:
                self._warn(f"preparing the worker failed ({exc!r}); retrying")

            # Retried, whatever fails: nothing is decided before it.
            await retry(prepare, on=(Exception,), report=report, first_delay=0.1)
            self._prepare = None
        # The fleet's breaker history before the first decision: a restart keeps its normal.
        await self.sync_breaker()
        self.ready.set()

    async def sync_breaker(self) -> None:
        """Add this worker's breaker counts to the fleet's history and read it back (at
        most once a second); while Redis is down the breaker counts this worker alone."""
        if self.breaker_history is None:
            return
        try:
            await self.breaker.sync(self.breaker_history)
        except (RedisError, OSError) as exc:
            self._warn(f"the breaker's fleet history is unavailable ({exc!r}); counting "
                       "this worker's decisions alone until it returns")  # fmt: skip

    def _exit_if_frozen(self) -> None:
        self.watch.start()  # from the first check on: the time before is the start-up
        frozen = self.watch.frozen()
        if frozen is not None:
            fatal(
                "this worker stood still for longer than the session timeout; its "
                "partitions have moved on, so it writes no state",
                TimeoutError(f"frozen for {frozen:.1f}s"),
            )

    async def _owns(self, records: Sequence[Record], stage: str, fences: int | None = None) -> bool:
        """Whether the batch is still this worker's, once any rebalance has settled; with
        `fences` (the count when it was decided), and not decided on top of a batch fenced
        since: applied now, its records would come before that one's, which its
        partitions' next resume sends (a decision of an older offset after a newer one,
        states set back). Both are finished from their entries, in order, by that resume."""
        if self.settled is not None:
            await self.settled()
        if fences is not None and fences != self.fences:
            why = "decided on top of a batch fenced since; their outbox finishes both in order"
        elif all(self.fence(r) for r in records):
            return True
        else:
            why = (
                "their partitions are not this worker's since they were fetched; "
                "their owner decides them"
            )
        metrics.FENCED.labels(stage).inc(len(records))
        log.warning(
            "dropping %d records before they are %s: %s",
            len(records), "decided" if stage == "decide" else "applied and acked", why,
        )  # fmt: skip
        return False

    def forget(self, partitions: set[int]) -> None:
        """Forget partitions this worker lost: their unwritten states, chain heads and
        outbox numbering (their batches in flight are fenced before they are applied)."""
        self.decider.forget(partitions)
        self.completer.forget(partitions)

    def _warn(self, message: str) -> None:
        """Log a waiting condition once every few seconds, not on every retry."""
        now = time.monotonic()
        if now - self._last_warning >= 5:
            self._last_warning = now
            log.error("%s", message)

    # ---- after an assignment ---------------------------------------------------------------
    async def resume(self, partitions: set[int]) -> None:
        """Finish newly assigned partitions' pending outbox entries (before any decision)."""
        async with self.lock:
            # A worker resumed after a freeze has lost its partitions, whatever its last
            # assignment says: it must not write their outbox claims, which the next owner
            # would take for the newest (a claim from a stale store restarts the chain).
            self._exit_if_frozen()
            if not self.ready.is_set():
                await self._prepare_once()
            await self._resume(partitions)

    async def _resume(self, partitions: set[int]) -> None:
        todo = partitions - self.completer.resumed
        if not todo:
            return

        def report(exc: BaseException) -> None:
            log.error("finishing the outbox of partitions %s failed (%r); retrying",
                      sorted(todo), exc)  # fmt: skip

        generation = self.generation()
        heads = await retry(lambda: self.completer.resume(todo, generation),
                            on=(KafkaError, OSError), report=report, first_delay=0.1)  # fmt: skip
        self.decider.heads.update(heads)

    async def _legacy(self, partition: int) -> str:
        """A partition without an outbox: a new one, or the first start after an upgrade
        from a version without it. Its chain continues from the decision log's tail, and
        the previous version's logged decisions that its states may lack are finished once
        (they are decided again as recorded); never again once the claim is written."""

        def report(exc: BaseException) -> None:
            log.error("reading the decision log's tail failed (%r); retrying", exc)

        head: str = await retry(lambda: self.chain.read(partition), on=(KafkaError, OSError),
                                report=report, first_delay=0.1)  # fmt: skip
        recent = self.recent
        if recent is not None:
            before = len(recent.index)
            await retry(lambda: recent.ensure({partition}), on=(KafkaError, OSError),
                        report=report, first_delay=0.1)  # fmt: skip
            found = len(recent.index) - before
            if found:
                log.warning(
                    "partition %d has no outbox yet (first start after an upgrade): %d "
                    "decisions of the previous version logged in the last %d s are finished "
                    "once as recorded", partition, found, recent.window_ms // 1000,
                )  # fmt: skip
        return head

    async def flush_claims(self) -> None:
        """Say which entries are done (so a successor re-sends none of them)."""
        try:
            deliveries = await self.completer.claim()
            if deliveries:
                await delivered(deliveries, self.completer.delivery_timeout_s)
        except Exception as exc:  # a claim is an optimisation: the next one says it again
            log.warning("writing outbox claims failed (%r)", exc)

    async def _cap_counts(self, good: Any, snapshots: dict[str, Entry]) -> Any:
        """The daily caps' counts the batch needs (CONTRACT §10); nothing when no version
        has a daily cap. A dry run finds the capped rules that would enforce; their places
        in the day's count come from Redis in one round trip; again until none is missing
        (a held event changes what its creator's next events do)."""
        if self.caps is None or not self.decider.book.capped:
            return None
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for _ in range(8):
            needs = self.decider.cap_needs(good, snapshots, counts)
            if not needs:
                break

            def report(exc: BaseException) -> None:
                metrics.REDIS_ERRORS.labels("unavailable").inc()
                self._warn(f"Redis unavailable counting daily caps ({exc}): retrying")

            items = [(rule, platform, day, eid) for _, eid, rule, platform, day in needs]
            places = await retry(functools.partial(self.caps.places, items),
                                 on=(RedisError, OSError), report=report)  # fmt: skip
            for (cid, eid, rule, _, _), n in zip(needs, places, strict=True):
                counts.setdefault((cid, eid), {})[rule] = n
        return counts

    # ---- the batch ------------------------------------------------------------------------
    async def process(self, records: Sequence[Record], ack: Ack | None = None) -> None:
        """Decide a batch; its completion (durable, visible, acked) runs in the background.

        Without `ack` the call waits for its own completion."""
        try:
            await self._process(records, ack)
        except Exception as exc:  # an escaping exception would stop the agent: exit instead
            fatal("processing a batch failed unexpectedly", exc)

    async def _process(self, records: Sequence[Record], ack: Ack | None) -> None:
        for kind, n in Counter(r.kind for r in records).items():
            metrics.CONSUMED.labels(kind).inc(n)
        metrics.BATCH_SIZE.observe(len(records))
        good, dead = self.decoder.decode(records)
        snapshots = await self.lookup({e.creator_id for _, e in good}) if good else {}
        if self.policy_gate is not None:
            await self.policy_gate()
        await self.slots.acquire()
        async with self.lock:
            # A worker resumed after a freeze must not decide from the state it still holds:
            # its partitions have a new owner, which finishes its outbox entries.
            self._exit_if_frozen()
            if not await self._owns(records, "decide"):
                self.slots.release()
                return
            if not self.ready.is_set():
                await self._prepare_once()
            await self._resume({r.partition for r in records})
            counts = await self._cap_counts(good, snapshots) if good else None
            try:
                batch = self.decider.decide_batch(good, dead, snapshots, counts)
                entries = self.completer.entries(batch, self.decider.heads)
                durable = await self.completer.write(entries)
            except Exception as exc:
                fatal("writing the batch's outbox entries failed", exc)
                return
            loop = asyncio.get_running_loop()
            previous = (self.last_issued, self.last_done)
            self.last_issued, self.last_done = issued, done = (
                loop.create_future(), loop.create_future(),
            )  # fmt: skip
            fences = self.fences
        completion = self._complete(
            durable, entries, batch, previous, (issued, done), ack, fences
        )  # fmt: skip
        if ack is None:
            await completion
        else:
            task = asyncio.ensure_future(completion)
            self.completions.add(task)
            task.add_done_callback(self.completions.discard)

    async def _complete(
        self, durable: list[Awaitable[Any]], entries: list[OutboxEntry], batch: Decided,
        previous: tuple[asyncio.Future[None] | None, asyncio.Future[None] | None],
        mine: tuple[asyncio.Future[None], asyncio.Future[None]], ack: Ack | None,
        fences: int,
    ) -> None:  # fmt: skip
        previous_issued, previous_done = previous
        issued, done = mine
        try:
            if durable:
                await delivered(durable, self.completer.delivery_timeout_s)
            if previous_issued is not None:
                await previous_issued
        except Exception as exc:
            fatal("writing the batch's outbox entries failed", exc)
        if not await self._owns(batch.records, "write", fences):
            # Its entries are durable: whoever owns the partitions next (this worker too,
            # should they come back) finishes them when it resumes them.
            self.fences += 1
            self.decider.written(batch)
            self.forget({r.partition for r in batch.records})
            issued.set_result(None)
            if previous_done is not None:
                await previous_done
            done.set_result(None)
            self.slots.release()
            return
        try:
            self._exit_if_frozen()
            deliveries = await self.completer.apply(entries)
            self.decider.written(batch)
            issued.set_result(None)
            if deliveries:
                await delivered(deliveries, self.completer.delivery_timeout_s)
            if previous_done is not None:
                await previous_done
            self.completer.finished(entries)
            if ack is not None:
                await ack()
        except Exception as exc:  # the batch must not be acked
            fatal("applying the batch failed", exc)
        done.set_result(None)
        self.slots.release()
