"""The review queue as metrics: open items by kind and the oldest one's age; and the sweep
that ends closed items.

Each worker follows the compacted `enforcement.queue` topic from its beginning (no
consumer group: it reads every partition) and keeps only the open items, so the figures
are the queue's, not one worker's share of it. The alert takes the max over workers.

The sweep: a closed item stays on the topic until the appeal window (policy
`appeals.window`) has passed since it closed, then this watcher writes a tombstone for its
key, so compaction removes it and the topic (what a console or a starting worker reads)
holds the open items and the recently closed ones only. The watcher is the place because
it already reads every record of the topic on every worker, whatever the partition
assignment, and runs wherever the pipeline runs (a console may not). Every worker sweeps:
a tombstone is idempotent, so two workers writing one for the same key change nothing.

The upgrade to `creator_id:kind:id` keys (CONTRACT §12): a record under an item's old key
(its bare id, written before v3) is tombstoned once it is closed or once the same item has
a record under its new key; an open one stays (the console shows it) until then.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Callable
from typing import Any, Final

from aiokafka import AIOKafkaConsumer

from pipeline.adapters import kafka, metrics
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.domain.queue import queue_key

log = logging.getLogger("livegate.queuewatch")
KINDS: Final = ("review", "appeal")


class ClosedSweep:
    """When each closed item's tombstone is due: its `closed_at` plus the appeal window."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.due: dict[bytes, int] = {}  # key -> due time; the truth
        self._heap: list[tuple[int, bytes]] = []  # the same, by time (stale entries skipped)

    def note(self, key: bytes, item: Any) -> None:
        """The latest record of `key`: a closed item is due later; anything else is not."""
        closed_at = item.get("closed_at") if isinstance(item, dict) else None
        if (
            isinstance(item, dict) and item.get("status") == "closed"
            and isinstance(closed_at, int) and not isinstance(closed_at, bool)
        ):  # fmt: skip
            due = closed_at + self.window_ms
            self.due[key] = due
            heapq.heappush(self._heap, (due, key))
        else:
            self.due.pop(key, None)

    def clear(self) -> None:
        self.due.clear()
        self._heap.clear()

    def take_due(self, now: int) -> list[bytes]:
        """The keys whose tombstone is due at `now`, each once."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            if self.due.get(key) == due:
                del self.due[key]
                out.append(key)
        return out


def new_key(item: Any) -> bytes | None:
    """The item's key on the queue topic since v3 (`creator_id:kind:id`), if it has one."""
    if not isinstance(item, dict):
        return None
    creator, kind = item.get("creator_id"), item.get("kind")
    name = item.get("review_id") if kind == "review" else item.get("appeal_id")
    if not isinstance(creator, str) or kind not in KINDS or not isinstance(name, str):
        return None
    return queue_key(creator, kind, name).encode()


class QueueView:
    """Open items (key -> kind, opened_at) from the queue topic's records, latest wins."""

    def __init__(self, sweep: ClosedSweep | None = None) -> None:
        self.open: dict[bytes, tuple[str, int]] = {}
        self.sweep = sweep
        # The v3 re-keying: old keys waiting for their item's new key, new keys seen while
        # reading the topic the first time, and old keys to tombstone.
        self.legacy: dict[bytes, bytes] = {}
        self.seen: set[bytes] | None = set()
        self.retire: list[bytes] = []

    def caught_up(self) -> None:
        self.seen = None  # nothing writes old keys any more: the first read found them all

    def _rekey(self, key: bytes, item: Any) -> bool:
        """True when the record is under an old key that is retired (not to be counted)."""
        nk = new_key(item)
        if nk is None:
            return False
        if nk == key:
            if self.seen is not None:
                self.seen.add(key)
            old = self.legacy.pop(key, None)
            if old is not None:
                self.retire.append(old)
                self.open.pop(old, None)
            return False
        if item.get("status") != "open" or (self.seen is not None and nk in self.seen):
            self.legacy.pop(nk, None)
            self.retire.append(key)
            self.open.pop(key, None)
            return True
        self.legacy[nk] = key
        return False

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        try:
            item: Any = json.loads(value) if value else None
        except ValueError:
            return
        if self._rekey(key, item):
            return
        if self.sweep is not None:
            self.sweep.note(key, item)
        if not isinstance(item, dict) or item.get("status") != "open":
            self.open.pop(key, None)  # closed, or a tombstone
            return
        opened = item.get("opened_at")
        kind = item.get("kind")
        if isinstance(opened, int) and kind in KINDS:
            self.open[key] = (kind, opened)

    def clear(self) -> None:
        self.open.clear()
        self.legacy.clear()
        self.seen = set()
        self.retire.clear()
        if self.sweep is not None:
            self.sweep.clear()

    def figures(self, now: int) -> dict[str, tuple[int, float]]:
        """kind -> (open items, age of the oldest in seconds, 0 when none)."""
        out = {}
        for kind in KINDS:
            opened = [t for k, t in self.open.values() if k == kind]
            out[kind] = (len(opened), max(0, now - min(opened)) / 1000 if opened else 0.0)
        return out

    def publish(self, now: int) -> None:
        for kind, (count, age) in self.figures(now).items():
            metrics.QUEUE_OPEN.labels(kind).set(count)
            metrics.QUEUE_OLDEST_AGE.labels(kind).set(age)


# The queue's gauges are scraped every few seconds: they are published at most this often.
# (Published at every fetch, each publish counting every open item, the follower had cost a
# paced worker a tenth of its CPU: at 1,000 events/s a fetch came every few milliseconds.)
PUBLISH_EVERY_MS = 1000
# The follower's fetches: the broker answers once this much is there or after the wait, so
# a paced stream of reports costs two fetches a second, not one every few milliseconds.
FETCH_MIN_BYTES = 1 << 20
FETCH_MAX_WAIT_MS = 500


async def follow(settings: Settings, view: QueueView, clock: Callable[[], int] = now_ms) -> None:
    """Read the queue topic for ever, keeping `view` and the gauges current (at most once a
    second), and write the tombstones the view's sweep finds due; retries."""
    delay = 1.0
    while True:
        consumer = AIOKafkaConsumer(
            settings.topics.queue, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
            auto_offset_reset="earliest", enable_auto_commit=False,
            fetch_min_bytes=FETCH_MIN_BYTES, fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            **kafka.client_kwargs(settings),
        )  # fmt: skip
        producer = kafka.producer(settings) if view.sweep is not None else None
        try:
            await consumer.start()
            if producer is not None:
                await producer.start()
            view.clear()  # read again from the beginning
            caught_up = False
            published: int | None = None
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for r in records:
                        view.apply(r.key, r.value)
                # Sweep only once the topic has been read to its end: a closed record read
                # early could have a later record for its key still unread.
                if not batches and not caught_up:
                    caught_up = True
                    view.caught_up()
                if producer is not None and view.sweep is not None and caught_up:
                    await _tombstones(producer, settings.topics.queue, view.sweep, clock())
                    await _retire(producer, settings.topics.queue, view)
                now = clock()
                if published is None or not 0 <= now - published < PUBLISH_EVERY_MS:
                    view.publish(now)
                    published = now
                delay = 1.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # metrics only: never take the worker down
            log.warning("following the review queue failed (%r); retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        finally:
            await consumer.stop()
            if producer is not None:
                await producer.stop()


async def _retire(producer: Any, topic: str, view: QueueView) -> None:
    """Tombstone the old-format keys (bare ids, before v3) whose item moved on."""
    keys, view.retire = view.retire, []
    await _send_tombstones(producer, topic, keys, "retired %d queue keys of the old format")


async def _tombstones(producer: Any, topic: str, sweep: ClosedSweep, now: int) -> None:
    keys = sweep.take_due(now)
    await _send_tombstones(
        producer, topic, keys, "ended %d closed queue items past the appeal window"
    )


async def _send_tombstones(producer: Any, topic: str, keys: list[bytes], said: str) -> None:
    for key in keys:
        await producer.send(topic, None, key=key)
    if keys:
        await producer.flush()
        metrics.QUEUE_TOMBSTONES.inc(len(keys))
        log.info(said, len(keys))
