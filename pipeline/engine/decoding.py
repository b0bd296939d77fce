"""Step 1 of a batch: raw records to events; a record that cannot be decided becomes a dead
letter (an out-record on the dead-letter topic, with its place and the original bytes)."""

from __future__ import annotations

import heapq
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


def in_event_time_order(good: list[Decoded]) -> list[Decoded]:
    """A batch's events of several input partitions, merged by event time.

    Kafka orders records within a partition only: a fetch hands over a creator's stream start
    (live.streams) and the reports on it (moderation.reports) partition by partition, in
    whatever order the response lists them, and deciding a report before the start it
    follows would find no live stream. Here each partition's records keep their order (the
    offsets they are decided and acked in), and between partitions the earlier `ts` goes
    first (ties: the partition listed first). One partition: the list as it is.
    """
    if len(good) < 2:
        return good
    lanes: dict[tuple[str, int], list[Decoded]] = {}
    for item in good:
        r = item[0]
        place = (r.topic, r.partition)
        lane = lanes.get(place)
        if lane is None:
            lane = lanes[place] = []
        lane.append(item)
    if len(lanes) == 1:
        return good
    return list(heapq.merge(*lanes.values(), key=_event_ts))


def _event_ts(item: Decoded) -> int:
    return item[1].ts
