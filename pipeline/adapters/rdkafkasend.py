"""A batch's records through librdkafka (confluent-kafka), one asyncio future per topic
partition: the worker's sender by default (`LIVEGATE_PRODUCER=librdkafka`).

`BatchSend` hands aiokafka one record batch per partition, and aiokafka builds, sends and
reads the produce requests in Python, in the worker's event loop, with one request in
flight per broker. Here each record is handed to librdkafka in one C call; its own threads
build the requests, send them (up to five in flight per broker, idempotent, so each
partition keeps its order and a retry never duplicates) and read the acknowledgements.

Only each partition's last record of a batch asks for a delivery report: gapless and
without expiry (`config`), its delivery means all of the partition's records are, and a
failure fails it too, which stops the worker unacked (the processor's `fatal`), as with
aiokafka. A poll thread takes the reports and hands all that one poll served to the event
loop in one call, which settles the futures (offset: the last record's). A report a record,
each crossing to the event loop on its own, had cost a GIL hand-over a record and a wake-up
of the loop a partition (issue 21).

Keyed records without a partition get the one aiokafka's default partitioner (murmur2, the
contract's) would pick, from the partition counts of the aiokafka producer's metadata:
librdkafka's own default partitioner is another hash.

Measured (issue 21, `livegate bench --paced`, back to back): the backlog's throughput about
double, its CPU per event down by a third; the paced rates' CPU within the noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from confluent_kafka import KafkaException, Producer

from pipeline.adapters.batchsend import BatchSend, Delivery, Groups
from pipeline.adapters.settings import Settings
from pipeline.adapters.threadnames import DELIVERIES, name_this_thread

log = logging.getLogger("livegate.send")


class _ChosenOnPurpose(logging.Filter):
    """librdkafka warns at every start that `enable.gapless.guarantee` is experimental. It is
    chosen on purpose (`config`): its notice goes to debug, not to every worker's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "enable.gapless.guarantee is experimental" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return log.isEnabledFor(logging.DEBUG)
        return True


log.addFilter(_ChosenOnPurpose())


class Sent(NamedTuple):
    """A partition's delivery (aiokafka's RecordMetadata, as far as LiveGate reads it):
    here the offset of the partition's last record in the batch."""

    topic: str
    partition: int
    offset: int


def config(settings: Settings) -> dict[str, Any]:
    """librdkafka's settings: acks=all, idempotent, and the project's security settings
    (README "Security"), as the aiokafka clients get them (adapters/kafka.client_kwargs)."""
    options: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": f"livegate-{settings.app_id}",
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 0,  # a batch's records are handed over together: nothing to wait for
        # Only a partition's last record of a batch reports its delivery (`RdKafkaSend`):
        # its success must mean that every earlier one was delivered. Gapless, a failure
        # that would leave a gap stops the producer (all later records fail with it), and
        # no record expires (an expired one is the one failure gapless does not cover): a
        # record waits for its broker as long as it takes, as the worker's commits do.
        "enable.gapless.guarantee": True,
        "message.timeout.ms": 0,
        "message.max.bytes": 1_048_576,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_tls:
        # Without a CA file the system's CAs, as aiokafka's default SSL context uses
        # ("probe": librdkafka looks in the system's usual places).
        cafile = settings.kafka_ssl_cafile
        options["ssl.ca.location"] = str(cafile) if cafile else "probe"
    if settings.kafka_sasl:
        options["sasl.mechanisms"] = settings.kafka_sasl_mechanism
        options["sasl.username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        options["sasl.password"] = password.reveal() if password is not None else None
    return options


class RdKafkaSend(BatchSend):
    """`BatchSend` with librdkafka doing the sending; `close()` flushes and stops it."""

    def __init__(self, settings: Settings, producer: Callable[[], AIOKafkaProducer]) -> None:
        super().__init__(producer)
        self.settings = settings
        self._rd: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        # Delivery reports taken by a poll and not yet handed to the event loop: (the
        # partition's future, error, message). Appended to only by whoever polls.
        self._reports: list[tuple[asyncio.Future[Sent], Any, Any]] = []
        # The deliveries not settled yet (the event loop's): what a fatal error fails.
        self._pending: set[asyncio.Future[Sent]] = set()

    def _started(self) -> Producer:
        rd = self._rd
        if rd is None:
            self._loop = asyncio.get_running_loop()
            rd = self._rd = Producer(config(self.settings), logger=log)
            self._poller = threading.Thread(
                target=self._poll, args=(rd,), name="librdkafka-deliveries", daemon=True
            )
            self._poller.start()
        return rd

    def _poll(self, rd: Producer) -> None:
        """The poll thread: one hand-over to the event loop for all that a poll served.

        A poll raises the producer's fatal error (e.g. a record the broker refused, which
        would leave a gap: `enable.gapless.guarantee`). The thread goes on polling (the
        failed records' reports follow), and every delivery not settled yet fails with it:
        nothing more will be delivered, and the processor stops the worker unacked."""
        name_this_thread(DELIVERIES)
        while not self._stop.is_set():
            try:
                rd.poll(0.2)
            except Exception as exc:  # the thread must live (see above)
                log.error("the producer failed: %s", exc)
                self._call(self._fail_all, exc)
            self._hand_over()

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            # A closed loop (RuntimeError): nobody waits for these any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(callback, *args)

    def _hand_over(self) -> None:
        reports = self._reports
        if reports:
            self._reports = []
            self._call(self._settle, reports)

    def _settle(self, reports: list[tuple[asyncio.Future[Sent], Any, Any]]) -> None:  # loop
        pending = self._pending
        for future, error, message in reports:
            pending.discard(future)
            if future.done():
                continue
            if error is not None:
                future.set_exception(KafkaException(error))
            else:
                future.set_result(Sent(message.topic(), message.partition(), message.offset()))

    def _fail_all(self, exc: BaseException) -> None:  # the event loop
        pending, self._pending = self._pending, set()
        for future in pending:
            if not future.done():
                future.set_exception(exc)

    async def _send(self, producer: AIOKafkaProducer, groups: Groups) -> list[Delivery]:
        rd = self._started()
        loop = asyncio.get_running_loop()
        deliveries: list[Delivery] = []
        for (topic, partition), items in groups.items():
            future: asyncio.Future[Sent] = loop.create_future()
            deliveries.append((topic, partition, future))
            self._pending.add(future)
            last = len(items) - 1

            def report(error: Any, message: Any, future: asyncio.Future[Sent] = future) -> None:
                # The poll thread (or a flush): the event loop settles the future.
                self._reports.append((future, error, message))

            for i, (key, value) in enumerate(items):
                while True:
                    try:
                        if i == last:
                            rd.produce(topic, value, key, partition, on_delivery=report)
                        else:
                            rd.produce(topic, value, key, partition)
                        break
                    except BufferError:  # librdkafka's queue is full: wait for room
                        await asyncio.sleep(0.005)
                    except KafkaException as exc:  # refused at once (e.g. too large)
                        # As a refusal by the broker: the partition's delivery fails, and
                        # none of its later records is sent (no gap in its order).
                        if not future.done():
                            future.set_exception(exc)
                        self._pending.discard(future)
                        break
                if future.done():
                    break
        return deliveries

    def close(self, timeout_s: float = 10.0) -> int:
        """Deliver what is queued (up to `timeout_s`), then stop; how many were not."""
        rd = self._rd
        if rd is None:
            return 0
        left: int = rd.flush(timeout_s)
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=1.0)
        self._hand_over()  # what the flush served
        if left:
            log.error("%d records were not delivered before the producer stopped", left)
        return left
