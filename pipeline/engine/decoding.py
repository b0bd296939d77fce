"""Step 1 of a batch: raw records to events; a record that cannot be decided becomes a dead
letter (an out-record on the dead-letter topic, with its place and the original bytes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from aiokafka.partitioner import murmur2

from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.domain.errors import InvalidEvent
from pipeline.domain.events import Event, decode_event, event_type
from pipeline.domain.signing import SIGNED_TYPES, check_signature
from pipeline.engine.deadletters import dead_letter
from pipeline.engine.outbox import OutRecord

Decoded = tuple[Record, Event]
Dead = tuple[Record, OutRecord, str]  # the record, its dead letter, the error code


class Decoder:
    def __init__(
        self, settings: Settings, partitions_of: Callable[[str], int | None],
        clock: Callable[[], int],
    ) -> None:  # fmt: skip
        self.settings = settings
        self.partitions_of = partitions_of
        self.clock = clock
        self._partition_cache: dict[bytes, int] = {}

    def decode(self, records: Sequence[Record]) -> tuple[list[Decoded], list[Dead]]:
        good: list[Decoded] = []
        dead: list[Dead] = []
        now = self.clock()
        max_bytes = self.settings.max_record_bytes
        for r in records:
            try:
                event = decode_event(
                    r.kind, r.key, r.value or b"", max_bytes=max_bytes, record_ts_ms=r.timestamp_ms
                )
                self._check_partition(r)
                if r.kind == "reviews" and event_type(event) in SIGNED_TYPES:
                    self._check_signature(r)
            except InvalidEvent as exc:
                dead.append((r, self.dead(exc.error, exc.detail, r, now), exc.error))
                continue
            good.append((r, event))
        return good, dead

    def dead(self, error: str, detail: str, r: Record, now: int) -> OutRecord:
        body = dead_letter(
            error, detail, r.topic, r.partition, r.offset, r.key, r.value, now,
            self.settings.max_record_bytes,
        )  # fmt: skip
        return OutRecord(self.settings.topics.dlq, r.key, body, None)

    def _check_signature(self, r: Record) -> None:
        """CONTRACT §12: a verdict (or another signed type) takes effect only when its
        signature verifies under a key this worker holds and its role may decide it."""
        body = json.loads(r.value or b"")  # it decoded as an event: a JSON object
        why = check_signature(body, self.settings.verdict_keys)
        if why is not None:
            raise InvalidEvent("unauthenticated", why)

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
