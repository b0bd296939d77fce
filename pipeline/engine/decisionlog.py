"""The decision log (CONTRACT §5): one record per decided event, SHA-256 chained per partition.

A worker keeps each partition's chain head in the partition's outbox (engine/outbox.py) and
reads nothing back from the log, but for a partition that has no outbox yet (a new one, or
the first start after an upgrade from a version without it): its chain continues from the
last record actually in the log, so the new owner extends the chain instead of forking it.

Only a record LiveGate sealed can continue the chain (CONTRACT §12): its hash verifies and
its `seal`, an HMAC of the hash under a key of LIVEGATE_SEAL_KEYS, verifies too. A record at
the tail that is not one (another producer's, a partial write: not JSON, no hash, a hash
that does not verify, a correct hash without a valid seal) is skipped, reported (metric,
log line; `livegate replay verify` names it FOREIGN too), and the chain continues from the
last sealed record before it, looked for within the last SCAN_BACK records. Records written
before v3 carry no seal at all: while the tail holds no sealed record they are taken as the
previous version's (unsealed, pre-v3), so an upgraded worker continues their chain; once a
partition has a sealed record, an unsealed one after it is foreign. A fetch that returns
nothing before the tail was read is retried, never taken for an empty partition: the chain
would silently restart at genesis.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from pipeline.adapters import kafka, metrics
from pipeline.adapters.settings import DEV_SEAL_KEYS, Settings
from pipeline.domain import audit
from pipeline.domain.audit import GENESIS
from pipeline.domain.signing import FOREIGN, SEALED, UNSEALED, Keys

log = logging.getLogger("livegate.decisionlog")
_decoder = msgspec.json.Decoder()
SCAN_BACK: Final = 1000  # records looked at, back from the tail, for the last sealed one
FETCH_TIMEOUT_S: Final = 10.0


class ChainHeads:
    """Where a partition without an outbox continues its chain from: the decision log's tail.
    (Every other partition's head lives in its outbox: engine/outbox.py.)"""

    def __init__(self, bootstrap: kafka.Target, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.keys = seal_keys(bootstrap)

    async def read(self, partition: int) -> str:
        """The hash to continue one partition's chain from, read from the log's tail: only
        for a partition without an outbox (a new one, or after an upgrade)."""
        return (await read_tails(self.bootstrap, self.topic, [partition], keys=self.keys))[
            partition
        ]


def seal_keys(where: kafka.Target) -> Keys:
    """The seal keys of the settings the reader was given (the dev keys for a bare address)."""
    return where.seal_keys if isinstance(where, Settings) else DEV_SEAL_KEYS


def record_status(value: bytes | None, keys: Keys) -> tuple[str | None, str]:
    """(hash, SEALED | UNSEALED | FOREIGN) of a record's bytes (audit.record_status)."""
    try:
        record: Any = _decoder.decode(value or b"")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None, FOREIGN
    return audit.record_status(record, keys)


def sealed_hash(value: bytes | None, keys: Keys = DEV_SEAL_KEYS) -> str | None:
    """The record's hash if LiveGate sealed it (hash and seal verify), else None."""
    digest, status = record_status(value, keys)
    return digest if status == SEALED else None


async def read_tails(
    where: kafka.Target, topic: str, partitions: list[int], scan_back: int = SCAN_BACK,
    keys: Keys | None = None,
) -> dict[int, str]:  # fmt: skip
    """The hash to continue each partition's chain from. Raises KafkaTimeoutError (the
    processor retries) when a tail could not be read."""
    bootstrap, security = kafka.target(where)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
        isolation_level="read_uncommitted", **security,
    )  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        heads = {}
        for tp in tps:
            begin, end = begins[tp], ends[tp]
            if end <= begin:
                heads[tp.partition] = GENESIS
                continue
            start = max(begin, end - scan_back)
            tail = await _read_range(consumer, tp, start, end)
            heads[tp.partition] = _continue_from(
                tp.partition, tail, start, begin, end, topic, keys or seal_keys(where)
            )
        return heads
    finally:
        await consumer.stop()


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> list[tuple[int, bytes | None]]:
    """Records [start, end) of one partition, (offset, value); retried on empty fetches."""
    consumer.seek(tp, start)
    out: list[tuple[int, bytes | None]] = []
    deadline = time.monotonic() + FETCH_TIMEOUT_S
    while True:
        batch = (await consumer.getmany(tp, timeout_ms=1000)).get(tp, [])
        out.extend((r.offset, r.value) for r in batch if r.offset < end)
        # Transaction markers take offsets but are never returned: the position says.
        if (out and out[-1][0] >= end - 1) or await consumer.position(tp) >= end:
            return out
        if batch:
            deadline = time.monotonic() + FETCH_TIMEOUT_S
        elif time.monotonic() > deadline:
            raise KafkaTimeoutError(
                f"reading {tp.topic}[{tp.partition}] offsets {start}..{end - 1} returned "
                f"nothing for {FETCH_TIMEOUT_S:.0f} s; not starting the chain at genesis"
            )


def _continue_from(
    partition: int, tail: list[tuple[int, bytes | None]], start: int, begin: int, end: int,
    topic: str, keys: Keys = DEV_SEAL_KEYS,
) -> str:  # fmt: skip
    read = [(offset, *record_status(value, keys)) for offset, value in tail]
    # Unsealed (pre-v3) records count only where no sealed record follows the upgrade.
    counts = (SEALED,) if any(st == SEALED for _, _, st in read) else (SEALED, UNSEALED)
    foreign = []
    for offset, digest, status in reversed(read):
        if digest is not None and status in counts:
            what = "" if status == SEALED else " (unsealed, pre-v3)"
            _report(topic, partition, foreign, f"continuing the chain from offset {offset}{what}")
            return digest
        foreign.append(offset)
    if start > begin:
        # Nothing sealed in the last `scan_back` records: a log LiveGate cannot continue.
        # Starting over is a visible break (verify names it), better than stopping for good.
        _report(
            topic, partition, foreign,
            f"no LiveGate record in the last {end - start} records: starting a new chain",
        )  # fmt: skip
    else:
        _report(topic, partition, foreign, "no LiveGate record at all: starting at genesis")
    return GENESIS


def _report(topic: str, partition: int, foreign: list[int], what: str) -> None:
    if not foreign:
        return
    metrics.FOREIGN_DECISION_RECORDS.inc(len(foreign))
    shown = ", ".join(str(o) for o in sorted(foreign)[:10])
    log.error(
        "%d record(s) at the tail of %s[%d] were not sealed by LiveGate (another producer or "
        "a partial write), offsets %s%s: skipped; %s",
        len(foreign), topic, partition, shown, " …" if len(foreign) > 10 else "", what,
    )  # fmt: skip
