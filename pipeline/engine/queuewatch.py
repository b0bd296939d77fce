"""The review queue as metrics: open items by kind and the oldest one's age.

Each worker follows the compacted `enforcement.queue` topic from its beginning (no
consumer group: it reads every partition) and keeps only the open items, so the figures
are the queue's, not one worker's share of it. The alert takes the max over workers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Final

from aiokafka import AIOKafkaConsumer

from pipeline.adapters import kafka, metrics
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms

log = logging.getLogger("livegate.queuewatch")
KINDS: Final = ("review", "appeal")


class QueueView:
    """Open items (key -> kind, opened_at) from the queue topic's records, latest wins."""

    def __init__(self) -> None:
        self.open: dict[bytes, tuple[str, int]] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        try:
            item: Any = json.loads(value) if value else None
        except ValueError:
            return
        if not isinstance(item, dict) or item.get("status") != "open":
            self.open.pop(key, None)  # closed, or a tombstone
            return
        opened = item.get("opened_at")
        kind = item.get("kind")
        if isinstance(opened, int) and kind in KINDS:
            self.open[key] = (kind, opened)

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


async def follow(settings: Settings, view: QueueView, clock: Callable[[], int] = now_ms) -> None:
    """Read the queue topic for ever, keeping `view` and the gauges current; retries."""
    delay = 1.0
    while True:
        consumer = AIOKafkaConsumer(
            settings.topics.queue, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
            auto_offset_reset="earliest", enable_auto_commit=False,
            **kafka.client_kwargs(settings),
        )  # fmt: skip
        try:
            await consumer.start()
            view.open.clear()  # read again from the beginning
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for r in records:
                        view.apply(r.key, r.value)
                view.publish(clock())
                delay = 1.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # metrics only: never take the worker down
            log.warning("following the review queue failed (%r); retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        finally:
            await consumer.stop()
