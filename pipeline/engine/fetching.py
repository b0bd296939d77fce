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


class _DecidedOnlyConsumer(_Consumer):
    """Acks only what the processor decided (`decided`), never what Faust skips.

    Faust's stream acks a message it skips: one fetched in an older consumer generation, or
    met while flow control is suspended for a rebalance. Those are exactly the records that
    wait behind a batch held up (by a Redis outage, say) when the group rebalances; acked,
    their offsets are committed and nobody decides them. Left unacked, the partition's owner
    reads them again from the committed offset.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decided: set[tuple[Any, int]] = set()

    def ack(self, message: Any) -> bool:
        place = (message.tp, message.offset)
        if place not in self.decided:
            return False
        self.decided.discard(place)
        acked: bool = super().ack(message)
        return acked


def use_short_fetch_wait(app: faust.App, decided_only: bool = False) -> None:
    """Before the app's consumer exists (it is made when the worker starts). With
    `decided_only`, the consumer acks only what was marked decided (the worker)."""
    app.transport.Consumer = _DecidedOnlyConsumer if decided_only else _Consumer
