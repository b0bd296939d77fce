"""Faust's Kafka consumer with an adaptive fetch (the broker's long poll).

aiokafka keeps at most one fetch request in flight per broker, and while records of a
partition are being consumed it leaves that partition out of the next request. Faust
creates its consumer with `fetch_max_wait_ms=1500` and `fetch_min_bytes=1` (fixed). When
the partitions with data were all returned in one response and are still being consumed,
the next request holds only partitions without traffic, and the broker holds it for the
full wait: for up to 1.5 s nothing more is fetched, for any partition. A short fixed wait
(10 ms, what LiveGate used until issue 21) fixes that at a price: an idle worker fetches a
hundred times a second, and at a paced load every record answers a fetch of its own, so
each becomes a batch of its own (200 events/s: 200 fetches and 110 batches a second).

`use_adaptive_fetch(app)` makes the app's consumer choose each request's wait from what
the last one brought (`AdaptiveFetch`): records flowing, the broker gathers them for up to
BUSY_WAIT_MS into one fetch (one batch); idle, it answers the first record at once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Container
from typing import Any, Protocol

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from pipeline.adapters.records import Record
from pipeline.adapters.threadnames import CONSUMER, name_this_thread

FETCH_MAX_WAIT_MS = int(os.environ.get("LIVEGATE_X_FETCH_WAIT_MS", "10"))
# The adaptive fetch (`AdaptiveFetch`): while records flow, the broker gathers them for up
# to BUSY_WAIT_MS (one fetch, one batch, for many events); after an empty fetch, with
# nothing buffered, it answers as soon as one record arrives, or after IDLE_WAIT_MS.
BUSY_WAIT_MS = int(os.environ.get("LIVEGATE_X_BUSY_WAIT_MS", "20"))
BUSY_MIN_BYTES = 1 << 20
IDLE_WAIT_MS = int(os.environ.get("LIVEGATE_X_IDLE_WAIT_MS", "500"))


class AdaptiveFetch:
    """aiokafka's fetcher, its wait chosen per request from what the last one brought.

    aiokafka sends a fetch to a broker as soon as the previous one is answered and what it
    brought is consumed, with one fixed `fetch_max_wait_ms` and `fetch_min_bytes`. With a
    short wait and one byte, a paced load of N events/s costs up to N fetches and N batches
    a second (each record answers a fetch on its own), and an idle worker polls 100 times a
    second; with a long wait, a request that holds only idle partitions (those with data are
    left out while buffered) stalls the others. Here:

    - busy (the last fetch brought records, or records are being consumed): the broker
      answers once BUSY_MIN_BYTES are there or after BUSY_WAIT_MS, so a fetch carries what
      arrived meanwhile and becomes one batch: at 1,000 events/s about 20 events a fetch,
      at 200/s about 4, for at most BUSY_WAIT_MS of added latency;
    - idle (the last fetch was empty and nothing is buffered): one byte and IDLE_WAIT_MS,
      so the first record after a pause is answered at once, and an idle worker sends two
      fetches a second instead of a hundred.
    """

    def __init__(
        self, fetcher: Any, gather_ms: int = BUSY_WAIT_MS,
        held: Callable[[], Container[Any]] | None = None,
    ) -> None:  # fmt: skip
        self.fetcher = fetcher
        # The partitions the app holds (Faust's paused ones: its tables' changelogs once
        # recovered), not fetched at all: see `_hold`.
        self.held = held
        self._holding: set[Any] = set()
        self._assignment: Any = None
        # 0: no gathering (one byte and a 10 ms wait while busy, the earlier fixed fetch).
        self.busy_wait_ms, self.busy_min_bytes = (
            (gather_ms, BUSY_MIN_BYTES) if gather_ms else (10, 1)
        )
        self.busy = True
        self._actions = fetcher._get_actions_per_node
        self._request = fetcher._proc_fetch_request
        fetcher._get_actions_per_node = self.actions
        fetcher._proc_fetch_request = self.request

    def actions(self, assignment: Any) -> Any:
        f = self.fetcher
        if self.held is not None:
            self._hold(assignment)
        # Records buffered since less than the prefetch backoff are being consumed: their
        # partitions are left out of the request, which must not hold the others long.
        # (Records of a partition nobody consumes stay buffered: they do not count.)
        if self.busy or any(r.calculate_backoff() for r in f._records.values()):
            f._fetch_max_wait_ms, f._fetch_min_bytes = self.busy_wait_ms, self.busy_min_bytes
        else:
            f._fetch_max_wait_ms, f._fetch_min_bytes = IDLE_WAIT_MS, 1
        return self._actions(assignment)

    def _hold(self, assignment: Any) -> None:
        """Pause in aiokafka what the app has paused, resume what it has resumed.

        Faust "pauses" a partition by no longer asking aiokafka for its records; aiokafka
        goes on fetching it. A table's changelog partitions are paused that way once
        recovered, and the worker writes them with every batch: each time a fetch brought
        a changelog record, it stayed buffered, never consumed, and aiokafka sends no fetch
        to a broker while a partition of it holds records younger than its prefetch backoff
        (100 ms). In the first second of traffic after a start or a rebalance, each of the
        tables' partitions did that once: 100 ms with nothing fetched for any partition,
        again and again (issue 19: a p99 of 130-200 ms in the first seconds). Paused here,
        a changelog partition is not fetched at all until Faust resumes it (a recovery:
        noticed at the next fetch cycle; a seek wakes the cycle at once).
        """
        if assignment is not self._assignment:  # a new assignment: new partition states
            self._assignment, self._holding = assignment, set()
        held, holding = self.held(), self._holding  # type: ignore[misc]
        for tp in assignment.tps:
            state = assignment.state_value(tp)
            if tp in held:
                if not state.paused:
                    state.pause()
                    holding.add(tp)
            elif tp in holding:
                holding.discard(tp)
                if state.paused:
                    state.resume()

    async def request(self, assignment: Any, node_id: int, request: Any) -> bool:
        has_data: bool = await self._request(assignment, node_id, request)
        self.busy = has_data
        return has_data


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka makes its fetcher when the consumer starts.
        start = consumer.start

        gather_ms = getattr(self.consumer, "gather_ms", BUSY_WAIT_MS)

        # Faust's paused partitions (a set it keeps and mutates): read from this thread,
        # membership tests only.
        paused = self.consumer._paused_partitions

        async def start_adaptive() -> None:
            name_this_thread(CONSUMER)  # the consumer's own thread: named for `top -H`
            await start()
            AdaptiveFetch(consumer._fetcher, gather_ms, held=lambda: paused)

        consumer.start = start_adaptive
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class BulkSink(Protocol):
    """Where the bulk consumer hands the records of its input topics (the batcher)."""

    room: asyncio.Event

    def put(self, items: list[Record]) -> None: ...
    def full(self) -> bool: ...


class BulkConsumer(_Consumer):
    """Faust's consumer, handing each fetch of the input topics to the engine in one call.

    Faust delivers a fetched record to an agent's stream one at a time: for each, its drain
    loop races the delivery against the flow-control event (four tasks a record), the
    conductor finds the channels, the channel queues an event, the stream iterates it and
    the sensors count it; each ack is a call again. That machinery cost more than deciding
    (issue 13). Here the drain loop turns a fetch's records of the input topics
    (`hand_off`) into `Record`s and puts them to the sink in one call; every other topic
    (table changelogs during recovery, and any without a sink) takes Faust's own path.

    What Faust's loop guarantees is kept: records are handed off in fetch order per
    partition, only for active partitions and while the flow is on; read offsets and gaps
    are tracked as Faust does (its commits use them); backpressure (a full sink) holds the
    loop until there is room or a rebalance suspends the flow.

    Acks (`ack_records`) count only what the processor decided, and only records fetched in
    the current consumer generation while the flow is on. Faust's own acks (of messages it
    skipped, or of records of an older generation) could commit past records nobody
    decided: its commit takes the acked offsets from the committed one on, and from a
    rebalance's revocation until the seek that ends its recovery the committed offset is
    not known, so acks made then are committed from wherever they start. A decided record
    of an older generation is left unacked: the seek to the committed offset fetches it
    again, and the processor's dedupe knows it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds: dict[str, str] = {}  # input topic -> kind
        self.sink: BulkSink | None = None
        self._tps: dict[tuple[str, int], TP] = {}

    def hand_off(self, kinds: dict[str, str], sink: BulkSink) -> None:
        self.kinds = dict(kinds)
        self.sink = sink

    def ack(self, message: Any) -> bool:
        # Faust's stream acks what it skips; nothing reaches an agent's stream from the
        # input topics here, so a message acked this way is never a decided one.
        if message.topic in self.kinds:
            return False
        acked: bool = super().ack(message)
        return acked

    def ack_records(self, records: list[Record]) -> int:
        """Mark decided records acked (Faust's bookkeeping, which its commits read);
        returns how many counted."""
        if not self.flow_active:
            return 0
        generation = self.app.consumer_generation_id
        acked, index, committed = self._acked, self._acked_index, self._committed_offset
        tps = self._tps
        n = 0
        with ack_lock:
            for r in records:
                if r.generation != generation:
                    continue
                place = (r.topic, r.partition)
                tp = tps.get(place)
                if tp is None:
                    tp = tps[place] = TP(r.topic, r.partition)
                c = committed[tp]
                offsets = index[tp]
                if (c is None or r.offset >= c) and r.offset not in offsets:
                    offsets.add(r.offset)
                    acked[tp].append(r.offset)
                    n += 1
            self._n_acked += n
            if n:
                notify(self._waiting_for_ack)
        return n

    async def _drain_messages(self, fetcher: Any) -> None:  # the loop of Faust's Fetcher
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                await self._drain_once()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _drain_once(self) -> None:
        fetched, active = await self._wait_next_records(1.0)
        await asyncio.sleep(0)
        generation = self.app.consumer_generation_id
        if fetched is None or self.should_stop:
            return
        if not self.flow_active:
            # As Faust's getmany: records fetched while the flow stopped are fetched again.
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning("exception performing seek when flow not active %r", exc)
            return
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        kinds, sink = self.kinds, self.sink
        monitor = self.app.monitor
        # A sensor may count a partition's records once a fetch (pipeline/adapters/faust/sensor.py).
        count_in = getattr(monitor, "on_messages_in", None)
        now = time.monotonic()
        read_offset = self._read_offset
        batch: list[Record] = []
        others: list[tuple[TP, Any]] = []
        for tp, records in fetched.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            if not records:
                continue
            monitor.track_tp_end_offset(tp, self.highwater(tp))
            kind = kinds.get(tp.topic)
            if kind is None or sink is None:
                others.extend((tp, record) for record in records)
                continue
            last = read_offset[tp]
            for record in records:
                offset = record.offset
                if last is not None and offset < last:
                    continue  # read already (Faust drops these too)
                if last and offset - last > 1 and self.app.topics.acks_enabled_for(tp.topic):
                    await self._add_gap(tp, last + 1, offset)
                batch.append(Record(
                    tp.topic, tp.partition, offset, record.key, record.value,
                    record.timestamp or 0, kind, generation,
                ))  # fmt: skip
                last = offset
            read_offset[tp] = last
            monitor.stream_inbound_time[tp] = now  # Faust's check that streams are moving
            if count_in is not None:
                count_in(tp, len(records), last)
        if batch and sink is not None:
            sink.put(batch)
            if sink.full():
                await self.wait_first(sink.room.wait(), self.suspend_flow.wait())
        for tp, record in others:  # Faust's own path, a record at a time
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            await self._deliver(tp, self._to_message(tp, record))

    async def _deliver(self, tp: TP, message: Any) -> None:
        offset = message.offset
        last = self._read_offset[tp]
        if last is not None and offset < last:
            return
        if last and offset - last > 1 and self.app.topics.acks_enabled_for(message.topic):
            await self._add_gap(tp, last + 1, offset)
        await self.wait_first(self.callback(message), self.suspend_flow.wait())
        self._read_offset[tp] = offset


def use_adaptive_fetch(app: faust.App, bulk: bool = False, gather_ms: int = BUSY_WAIT_MS) -> None:
    """Before the app's consumer exists (it is made when the worker starts): its fetches
    gather records for up to `gather_ms` while they flow (`AdaptiveFetch`). With `bulk`,
    the consumer hands the input topics' records off in bulk (`BulkConsumer`: the worker)."""
    base = BulkConsumer if bulk else _Consumer
    app.transport.Consumer = type(base.__name__, (base,), {"gather_ms": gather_ms})
