"""Faust's Kafka consumer with a short fetch wait (the broker's long poll).

aiokafka keeps at most one fetch request in flight per broker, and while records of a
partition are still buffered it leaves that partition out of the next request. Faust
creates its consumer with `fetch_max_wait_ms=1500` (fixed). When the partitions with data
were all returned in one response and are still being consumed, the next request holds
only partitions without traffic (another topic, the changelogs, the expiry topic), and
the broker holds it for the full wait: for up to 1.5 s nothing more is fetched, for any
partition. Under a steady paced load that is seconds of latency with the CPU mostly idle;
during table recovery it stalls the restore in the same way (empty changelog partitions).

`use_short_fetch_wait(app)` makes the app's consumer ask the broker to answer within
`FETCH_MAX_WAIT_MS`: an idle worker then sends that many more (empty) fetches a second,
at a cost of a few microseconds each; a loaded one never waits on an idle partition.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

FETCH_MAX_WAIT_MS = 10


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by aiokafka when its fetcher starts (AIOKafkaConsumer.start).
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


def use_short_fetch_wait(app: faust.App) -> None:
    """Before the app's consumer exists (it is made when the worker starts)."""
    app.transport.Consumer = _Consumer
