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
