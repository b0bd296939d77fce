"""A Kafka record as LiveGate handles it: where it was, its raw key and value, its time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    kind: str = ""  # an input topic's kind (live, commerce, reports, certs, expiries)
    # The consumer group generation the record was fetched in: a record of an older
    # generation than the worker's current one may belong to another worker by now.
    generation: int = 0
