"""The batch processor: decode, look up, decide, emit; the I/O around the pure domain.

Agents hand it batches of raw records (with an `ack` to call). For a batch it:
1. decodes every record; a record that cannot be decided becomes a dead letter;
2. reads the certifications of the batch's creators (one Redis round trip, cache + epoch);
   while Redis is down or the table is not loaded, it waits and retries: late, never wrong;
3. decides each event in order with the pure `decide()`, appends the decision (hash-chained
   per partition) and its actions to the producer (under a lock: one order for the chain
   and the states; the next batch is decided while this one's records are in flight);
4. in the background, once every record of the batch is acknowledged by the broker (and
   the batch before it is complete), writes the new creator states to the table
   (changelogged), schedules expiry checks, and only then calls `ack`: a state that says
   "decided" never exists without its decision in the log, and no offset is committed for
   a batch whose records are not in the log. A crash anywhere redelivers the batch:
   at-least-once, and the decided-event-id set makes the re-run produce nothing new.
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
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from redis.exceptions import RedisError

from pipeline.adapters import metrics
from pipeline.adapters.certstore import Entry, Unreadable
from pipeline.adapters.records import Record
from pipeline.adapters.retry import retry
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.domain.actions import encode_action, is_enforcing
from pipeline.domain.audit import DecisionRecord, Source, decision_record, seal
from pipeline.domain.certifications import CertSnapshot
from pipeline.domain.decide import Decision, decide, decide_as_recorded
from pipeline.domain.errors import InvalidEvent
from pipeline.domain.events import Event, decode_event, event_from_builtins
from pipeline.domain.expiries import Expiry
from pipeline.domain.policy import Policy
from pipeline.domain.state import CreatorState, decode_state, encode_state, seen_offset
from pipeline.engine.breaker import Breaker, BreakerConfig
from pipeline.engine.certcache import CertCache, TableNotLoaded
from pipeline.engine.deadletters import dead_letter
from pipeline.engine.decisionlog import ChainHeads
from pipeline.engine.expiries import ExpirySchedule, schedule_changes
from pipeline.engine.recovery import RecentDecisions
from pipeline.engine.watchdog import FreezeWatch

log = logging.getLogger("livegate.processor")


@functools.cache
def labelled(metric: Any, *values: str) -> Any:
    """A metric's child for these label values, looked up once (labels() costs ~5 µs)."""
    return metric.labels(*values)


Decoded = tuple["Record", Event]
Dead = tuple[bytes | None, bytes, str]  # key, dead-letter JSON, error code
Ack = Callable[[], Awaitable[None]]
Send = Callable[[str, bytes | None, bytes, int | None], Awaitable[Awaitable[Any]]]


class StateStore(Protocol):
    """A changelogged table: `set` writes it and returns the changelog record's delivery,
    which must succeed before anything that depends on the write is acked."""

    def get(self, key: bytes, partition: int | None = None) -> bytes | None: ...
    async def set(self, key: bytes, value: bytes, partition: int) -> Awaitable[Any]: ...
    async def set_many(self, writes: list[tuple[bytes, bytes, int]]) -> list[Awaitable[Any]]: ...


@dataclass(frozen=True, slots=True)
class Decided:
    """What deciding a batch changed: creator states (and their partitions), expiry checks."""

    states: dict[bytes, CreatorState]
    partitions: dict[bytes, int]
    expiries: dict[bytes, list[Expiry]]
    records: Sequence[Record]


class DecisionHook(Protocol):
    """Called for every decision made (expiry scheduling, shadow mode)."""

    def __call__(
        self, event: Event, decision: Decision, snapshot: CertSnapshot, record: Record
    ) -> list[tuple[str, bytes | None, bytes, int | None]]: ...


def fatal(message: str, exc: BaseException) -> None:
    """Stop at once without acking: the batch is redelivered to whoever takes over."""
    log.critical("%s: %r; exiting so the batch is redelivered", message, exc)
    logging.shutdown()
    os._exit(70)


class Processor:
    def __init__(
        self, settings: Settings, policy: Policy, cert_cache: CertCache, states: StateStore,
        send: Send, chain: ChainHeads, partitions_of: Callable[[str], int | None],
        schedule: ExpirySchedule, session_timeout_s: float = 10.0, max_in_flight: int = 256,
        clock: Callable[[], int] = now_ms,
        prepare: Callable[[], Awaitable[None]] | None = None,
        fence: Callable[[Record], bool] = lambda record: True,
        settled: Callable[[], Awaitable[None]] | None = None,
        recent: RecentDecisions | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.policy = policy
        self.cert_cache = cert_cache
        self.states = states
        self.send = send
        self.chain = chain
        self.partitions_of = partitions_of
        self.clock = clock
        self.hooks: list[DecisionHook] = []
        # Run once before the first batch (e.g. fetch producer metadata for the changelogs);
        # `ready` is set once it has run, and nothing is decided or emitted before.
        self._prepare = prepare
        self.ready = asyncio.Event()
        # Whether a record is still this worker's (its partition continuously assigned since
        # it was fetched), and a wait for a rebalance under way to settle: a batch that is
        # not is dropped unacked before it is decided or its state written, and the
        # partition's owner reads it again (agents/runtime.py, Fence).
        self.fence = fence
        self.settled = settled
        self.recent = recent
        self.watch = FreezeWatch(limit_s=session_timeout_s)
        # Pipelining: decided states not yet in the table, the completion of the last
        # batch decided, and a bound on batches in flight (backpressure on the agents).
        self.unwritten: dict[bytes, CreatorState] = {}
        self.unwritten_partition: dict[bytes, int] = {}
        self.last_written: asyncio.Future[None] | None = None
        self.slots = asyncio.Semaphore(max_in_flight)
        self.completions: set[asyncio.Task[None]] = set()
        self.breaker = Breaker(BreakerConfig(
            window_s=settings.breaker_window_s, factor=settings.breaker_factor,
            floor=settings.breaker_floor,
        ))  # fmt: skip
        self.schedule = schedule
        self.lock = asyncio.Lock()
        self._partition_cache: dict[bytes, int] = {}
        self._last_warning = 0.0

    # ---- 1. decode ----------------------------------------------------------------------
    def decode(self, records: Sequence[Record]) -> tuple[list[Decoded], list[Dead]]:
        good: list[Decoded] = []
        dead: list[Dead] = []
        now = self.clock()
        for r in records:
            try:
                value = r.value or b""
                event = decode_event(
                    r.kind,
                    r.key,
                    value,
                    max_bytes=self.settings.max_record_bytes,
                    record_ts_ms=r.timestamp_ms,
                )
                self._check_partition(r)
            except InvalidEvent as exc:
                dead.append((r.key, self._dead(exc.error, exc.detail, r, now), exc.error))
                continue
            good.append((r, event))
        return good, dead

    def _check_partition(self, r: Record) -> None:
        key = r.key or b""
        count = self.partitions_of(r.topic)
        if not count:
            return
        expected = self._partition_cache.get(key)
        if expected is None:
            if len(self._partition_cache) > 200_000:
                self._partition_cache.clear()
            expected = (murmur2(key) & 0x7FFFFFFF) % count
            self._partition_cache[key] = expected
        if expected != r.partition:
            raise InvalidEvent(
                "wrong_partition",
                f"key hashes (murmur2) to partition {expected} of {count}, record is on "
                f"{r.partition}: the producer must use Kafka's default partitioner",
            )

    def _dead(self, error: str, detail: str, r: Record, now: int) -> bytes:
        return dead_letter(
            error, detail, r.topic, r.partition, r.offset, r.key, r.value, now,
            self.settings.max_record_bytes,
        )  # fmt: skip

    # ---- 2. look up -----------------------------------------------------------------------
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
        good, _ = self.decode([r for r in records if r.kind == "certs"])
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
        self.ready.set()

    def _exit_if_frozen(self) -> None:
        frozen = self.watch.frozen()
        if frozen is not None:
            fatal(
                "this worker stood still for longer than the session timeout; its "
                "partitions have moved on, so it writes no state",
                TimeoutError(f"frozen for {frozen:.1f}s"),
            )

    async def _owns(self, records: Sequence[Record], stage: str) -> bool:
        """Whether the batch is still this worker's, once any rebalance has settled."""
        if self.settled is not None:
            await self.settled()
        if all(self.fence(r) for r in records):
            return True
        metrics.FENCED.labels(stage).inc(len(records))
        log.warning(
            "dropping %d records before they are %s: their partitions are not this "
            "worker's since they were fetched; their owner decides them",
            len(records), "decided" if stage == "decide" else "written and acked",
        )  # fmt: skip
        return False

    def forget(self, partitions: set[int]) -> None:
        """Drop the decided-but-unwritten states of creators of partitions this worker lost
        (their batches are fenced at their write)."""
        for key in [k for k, p in self.unwritten_partition.items() if p in partitions]:
            self.unwritten.pop(key, None)
            del self.unwritten_partition[key]

    def _warn(self, message: str) -> None:
        """Log a waiting condition once every few seconds, not on every retry."""
        now = time.monotonic()
        if now - self._last_warning >= 5:
            self._last_warning = now
            log.error("%s", message)

    # ---- the batch ------------------------------------------------------------------------
    async def process(self, records: Sequence[Record], ack: Ack | None = None) -> None:
        """Decide a batch; its completion (delivery, state, ack) runs in the background.

        Batches are decided one after another (under the lock, so the hash chain and the
        creator states follow one order), but the wait for the broker's acknowledgement
        overlaps with deciding the next batches. States are written, and batches acked, in
        the order they were decided; until then the decided states are read from `unwritten`.
        Without `ack` the call waits for its own completion.
        """
        try:
            await self._process(records, ack)
        except Exception as exc:  # an escaping exception would stop the agent: exit instead
            fatal("processing a batch failed unexpectedly", exc)

    async def _process(self, records: Sequence[Record], ack: Ack | None) -> None:
        for kind, n in Counter(r.kind for r in records).items():
            metrics.CONSUMED.labels(kind).inc(n)
        metrics.BATCH_SIZE.observe(len(records))
        good, dead = self.decode(records)
        snapshots = await self.lookup({e.creator_id for _, e in good}) if good else {}
        await self.slots.acquire()
        async with self.lock:
            self.watch.start()
            # A worker resumed after a freeze must not decide from the state it still holds:
            # its partitions have a new owner, which decides these events from the log.
            self._exit_if_frozen()
            if not await self._owns(records, "decide"):
                self.slots.release()
                return
            if not self.ready.is_set():
                await self._prepare_once()
            try:
                pending = [
                    await self.send(self.settings.topics.dlq, k, v, None) for k, v, _ in dead
                ]
                batch = await self._decide_all(good, snapshots, pending)
            except Exception as exc:
                fatal("producing the batch's records failed", exc)
                return
            previous, written = self.last_written, asyncio.get_running_loop().create_future()
            self.last_written = written
        for _, _, error in dead:
            metrics.DEAD_LETTERS.labels(error).inc()
        done = self._complete(pending, batch, previous, written, ack)
        if ack is None:
            await done
        else:
            task = asyncio.ensure_future(done)
            self.completions.add(task)
            task.add_done_callback(self.completions.discard)

    async def _complete(
        self, pending: list[Awaitable[Any]], batch: Decided,
        previous: asyncio.Future[None] | None,
        written: asyncio.Future[None], ack: Ack | None,
    ) -> None:  # fmt: skip
        try:
            if pending:
                await asyncio.gather(*pending)
            if previous is not None:
                await previous
        except Exception as exc:
            fatal("producing the batch's records failed", exc)
        if not await self._owns(batch.records, "write"):
            for key, state in batch.states.items():
                if self.unwritten.get(key) is state:
                    del self.unwritten[key]
                    self.unwritten_partition.pop(key, None)
            written.set_result(None)
            self.slots.release()
            return
        try:
            # Expiry checks first: a crash after them and before the states redelivers the
            # batch, which decides the same checks again (adding one is idempotent); the
            # other order would leave a decided event whose check was never scheduled.
            deliveries = []
            for key, due in batch.expiries.items():
                deliveries.extend(await self.schedule.add(key, due))
            self._exit_if_frozen()  # the expiry writes awaited: a freeze can land there
            writes = [(key, encode_state(state), batch.partitions[key])
                      for key, state in batch.states.items()]  # fmt: skip
            deliveries.extend(await self.states.set_many(writes))
            for key, state in batch.states.items():
                if self.unwritten.get(key) is state:
                    del self.unwritten[key]
                    self.unwritten_partition.pop(key, None)
            # Offsets are committed only for state that is in the changelog, not only in
            # memory: a failed changelog write (timeout, ACL) stops the worker unacked.
            if deliveries:
                await asyncio.gather(*deliveries)
            if ack is not None:
                await ack()
        except Exception as exc:  # the batch must not be acked
            fatal("writing creator state failed", exc)
        written.set_result(None)
        self.slots.release()

    async def _decide_all(
        self, good: list[tuple[Record, Event]], snapshots: dict[str, Entry],
        pending: list[Awaitable[Any]],
    ) -> Decided:  # fmt: skip
        if good:
            await self._ensure_chains({r.partition for r, _ in good})
            if self.recent is not None and self.recent.by_creator:
                good = self._recorded_first(good)
        states: dict[bytes, CreatorState] = {}
        expiries: dict[bytes, list[Expiry]] = {}
        partitions: dict[bytes, int] = {}
        topics = self.settings.topics
        for r, event in good:
            key = r.key or b""
            state = states.get(key) or self._stored(r)
            now = self.clock()
            snapshot = snapshots[event.creator_id]
            recorded = self.recent.get(event.creator_id, event.event_id) if self.recent else None
            if recorded is not None and recorded.policy_version != self.policy.version:
                recorded = None
            if recorded is not None:
                # Its decision is in the log already: decide it again exactly as then.
                snapshot, now = recorded.certifications, recorded.decided_at
            if isinstance(snapshot, Unreadable):
                detail = (f"the certification table's value for this creator cannot be read "
                          f"({snapshot.key}): {snapshot.detail}; fix or remove it")  # fmt: skip
                body = self._dead("bad_certification", detail, r, now)
                pending.append(await self.send(topics.dlq, r.key, body, None))
                metrics.DEAD_LETTERS.labels("bad_certification").inc()
                continue
            try:
                where = (f"{r.topic}:{r.partition}", r.offset)
                if recorded is None:
                    decision = decide(event, snapshot, state, self.policy, now, where)
                else:
                    decision = decide_as_recorded(event, snapshot, state, recorded.state_before,
                                                  self.policy, now, where)  # fmt: skip
            except Exception as exc:
                log.exception("deciding %s failed", event.event_id)
                body = self._dead("decision_failed", repr(exc)[:500], r, now)
                pending.append(await self.send(topics.dlq, r.key, body, None))
                metrics.DEAD_LETTERS.labels("decision_failed").inc()
                continue
            if decision is None:
                metrics.DUPLICATES.labels(r.kind).inc()
                continue
            if decision.rejected is not None:  # names what the creator never had (§6)
                body = self._dead(decision.rejected.code, decision.rejected.detail, r, now)
                pending.append(await self.send(topics.dlq, r.key, body, None))
                metrics.DEAD_LETTERS.labels(decision.rejected.code).inc()
                continue
            held = self._hold(decision, r.timestamp_ms / 1000)
            if held:  # nothing of it takes effect: no standing or queue change for the hooks
                decision = msgspec.structs.replace(decision, standing=None, queue=[])
            # Nothing irreversible while the breaker is open: no actions, no state change.
            record = self._decision_record(event, decision, r, now, held)
            if not held:
                states[key] = self.unwritten[key] = decision.new_state
                self.unwritten_partition[key] = r.partition
                partitions[key] = r.partition
                if decision.expiries or decision.cancelled_expiries:
                    expiries.setdefault(key, []).extend(schedule_changes(decision))
            head = self.chain.heads[r.partition]
            value, self.chain.heads[r.partition] = seal(record, head)
            pending.append(await self.send(topics.decisions, key, value, r.partition))
            for action in () if held else decision.actions:
                body = encode_action(action)
                pending.append(await self.send(topics.actions, key, body, r.partition))
                labelled(metrics.ACTIONS, action.action, action.rule_id).inc()
            for hook in self.hooks:
                for out in hook(event, decision, snapshot, r):
                    pending.append(await self.send(*out))
            labelled(metrics.EVENTS, r.kind, decision.outcome).inc()
            metrics.LATENCY.observe(max(0, self.clock() - r.timestamp_ms) / 1000)
        return Decided(states, partitions, expiries, [r for r, _ in good])

    def _stored(self, r: Record) -> CreatorState | None:
        """The record's creator's state: decided but not written yet, else the table's."""
        key = r.key or b""
        state = self.unwritten.get(key)
        if state is None:
            raw = self.states.get(key, r.partition)  # co-partitioned: the key's partition
            state = decode_state(raw) if raw is not None else None
        return state

    def _recorded_first(self, good: list[Decoded]) -> list[Decoded]:
        """Before a creator's first event after an assignment: the decisions of the log's
        recent tail that its stored state does not know (decided by a worker that stopped
        before writing the state), decided again as recorded.

        Otherwise the creator's other events, on another topic or fetched first, would be
        decided on a state without them, and the log would hold two decisions that do not
        follow each other. Each is emitted again identically (its actions may not all have
        been delivered), and when its own record comes back it is a duplicate.
        """
        recent = self.recent
        assert recent is not None
        out: list[Decoded] = []
        for r, event in good:
            entries = recent.take(event.creator_id)
            state = self._stored(r) if entries else None
            for e in entries:
                if (e.source is None or e.event_id == event.event_id  # itself: where it stands
                        or e.policy_version != self.policy.version):  # fmt: skip
                    continue
                if state is not None and (
                    seen_offset(state, e.source) or e.event_id in state.decided
                ):
                    continue
                try:
                    kind, again = event_from_builtins(e.event)
                except InvalidEvent:
                    continue
                where, offset = e.source
                topic, _, partition = where.rpartition(":")
                out.append((Record(topic, int(partition), offset, r.key, None, again.ts, kind,
                                   r.generation), again))  # fmt: skip
            out.append((r, event))
        return out

    def _hold(self, decision: Decision, at: float) -> bool:
        enforcing = sum(is_enforcing(a.action) for a in decision.actions)
        was_open = self.breaker.is_open
        held = self.breaker.record(enforcing, at)
        if self.breaker.is_open != was_open:
            metrics.BREAKER_OPEN.set(int(self.breaker.is_open))
            window, normal = self.breaker.rates(self.breaker.latest)
            if self.breaker.is_open:
                log.critical(
                    "circuit breaker OPEN: %d enforcing actions in the last %ds of traffic "
                    "against a normal %.1f; holding enforcement actions (decisions go on, "
                    "marked held) until the rate falls; check the certification table and "
                    "the policy",
                    window, self.breaker.c.window_s, normal,
                )  # fmt: skip
            else:
                log.warning("circuit breaker closed: enforcement actions flow again")
        if held:
            metrics.HELD.inc(len(decision.actions))
        return held

    async def _ensure_chains(self, partitions: set[int]) -> None:
        def report(exc: BaseException) -> None:
            log.error("reading the decision log's tail failed (%r); retrying", exc)

        await retry(lambda: self.chain.ensure(partitions), on=(KafkaError, OSError),
                    report=report, first_delay=0.1)  # fmt: skip
        if self.recent is not None:
            recent = self.recent
            await retry(lambda: recent.ensure(partitions), on=(KafkaError, OSError),
                        report=report, first_delay=0.1)  # fmt: skip

    def _decision_record(
        self, event: Event, d: Decision, r: Record, now: int, held: bool
    ) -> DecisionRecord:
        source = Source(r.topic, r.partition, r.offset)
        if not held:
            return decision_record(event, d, self.policy.version, now, source)
        held_actions = [msgspec.to_builtins(a) for a in d.actions]
        return decision_record(event, d, self.policy.version, now, source,
                               held=True, held_actions=held_actions)  # fmt: skip
