"""The benchmark's data: creators (a share qualified, some medical personnel), their
certifications in Redis, and a realistic mix of input records from the simulator's model."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import msgspec

from pipeline.adapters.certstore import CertChange, CertStore, connect
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.ops.registry import build_change, grant_fields
from pipeline.ops.simulate import Traffic

YEAR_MS = 365 * 86_400_000
KINDS = ("live", "commerce", "reports")
_ENCODE = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class InputRecord:
    kind: str
    key: bytes
    value: bytes
    event_id: str
    type: str


@dataclass(frozen=True)
class Preload:
    creators: int
    certifications: int
    physicians: int
    seconds: float


class Workload:
    """Creators and their traffic; `records(n)` continues the same model on every call."""

    def __init__(self, creators: int, run: str, seed: int = 7) -> None:
        self.traffic = Traffic(creators, run, seed)
        # Every creator's first event starts a stream, so a cold model yields mostly
        # stream_started. One discarded step per creator brings it to its steady mix
        # (links, unlinks, reports, updates, ends and starts).
        self.traffic.bulk(creators, now_ms())

    @property
    def creators(self) -> int:
        return len(self.traffic.creators)

    def records(self, count: int) -> list[InputRecord]:
        out = []
        for kind, creator, event in self.traffic.bulk(count, now_ms()):
            out.append(InputRecord(
                kind, creator.encode(), _ENCODE(event), str(event["event_id"]), str(event["type"])
            ))  # fmt: skip
        return out

    def grants(self) -> list[CertChange]:
        now = now_ms()
        return [
            build_change(grant_fields(
                g.creator_id, g.domain, f"LIC-{g.creator_id}", "bench-registry",
                now - 86_400_000, now + YEAR_MS, g.profession, now,
                event_id=f"bench:{g.creator_id}:{g.domain}",
            ))[1]
            for g in self.traffic.grants()
        ]  # fmt: skip


def mix(records: list[InputRecord]) -> dict[str, int]:
    """How many records of each event type (for the report)."""
    return dict(sorted(Counter(r.type for r in records).items()))


async def preload(settings: Settings, workload: Workload) -> Preload:
    """Write the certification table with the registry's own compare-and-set, and time it.

    The change records are not published to `certification.changes`: the worker would
    apply and decide each of them, which is not the load being measured.
    """
    changes = workload.grants()
    client = connect(settings)
    started = time.perf_counter()
    try:
        await CertStore(client, settings).apply(changes)
    finally:
        await client.aclose()
    physicians = sum(1 for c in changes if getattr(c, "profession", None) == "physician")
    return Preload(workload.creators, len(changes), physicians, time.perf_counter() - started)


async def mark_loaded(settings: Settings) -> None:
    client = connect(settings)
    try:
        await CertStore(client, settings).mark_loaded(now_ms())
    finally:
        await client.aclose()
