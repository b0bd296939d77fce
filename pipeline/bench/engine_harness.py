"""The engine without a broker: the Processor driven with a fake send, state store,
certification lookup and clock. The unit tests of the engine use it, and so does the
engine micro-benchmark (`livegate bench-engine`), which measures the processor's own CPU
cost per event with Kafka and Redis out of the picture.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipeline.adapters.records import Record
from pipeline.adapters.settings import REPO_ROOT, Settings
from pipeline.domain.audit import GENESIS
from pipeline.domain.certifications import CertSnapshot
from pipeline.domain.expiries import Expiry
from pipeline.domain.policy import Policy, load_policy
from pipeline.engine.outbox import PREFIX
from pipeline.engine.processor import Processor

_decode = msgspec.json.Decoder()


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None

    def json(self) -> Any:
        return _decode.decode(self.value)


class FakeSend:
    """Records every send; each returns a delivery future the test may hold or fail."""

    def __init__(self, auto: bool = True) -> None:
        self.sent: list[Sent] = []
        self.auto = auto  # resolve deliveries at once
        self.deliveries: list[asyncio.Future[None]] = []

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None
    ) -> Awaitable[Any]:
        self.sent.append(Sent(topic, key, value, partition))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.auto:
            future.set_result(None)
        self.deliveries.append(future)
        return future

    def deliver_all(self) -> None:
        for f in self.deliveries:
            if not f.done():
                f.set_result(None)

    def on(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


class FakeStates:
    """The state store: a dict, with every write recorded in order."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.writes: list[tuple[bytes, int]] = []
        self.fail: BaseException | None = None
        self.fail_delivery: BaseException | None = None
        self.held: list[asyncio.Future[None]] | None = None  # a list: deliveries wait there

    def get(self, key: bytes, partition: int | None = None) -> bytes | None:
        return self.data.get(key)

    async def set_many(self, writes: list[tuple[bytes, bytes | None, int]]) -> list[Awaitable[Any]]:
        return [await self.set(key, value, partition) for key, value, partition in writes]

    async def set(self, key: bytes, value: bytes | None, partition: int) -> Awaitable[Any]:
        """Returns the write's delivery: done at once, or failed with `fail_delivery`.
        `writes` lists the creator-state writes (not the outbox's own keys)."""
        if self.fail is not None:
            raise self.fail
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
        if not key.startswith(PREFIX):
            self.writes.append((key, partition))
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.held is not None:
            self.held.append(delivery)
        elif self.fail_delivery is not None:
            delivery.set_exception(self.fail_delivery)
        else:
            delivery.set_result(None)
        return delivery


class FakeStore:
    """What the processor uses of the CertStore: `apply` for certification changes."""

    def __init__(self) -> None:
        self.applied: list[Any] = []

    async def apply(self, changes: Sequence[Any]) -> list[bool]:
        self.applied.extend(changes)
        return [True] * len(changes)


class FakeCerts:
    """The certification lookup: a dict of snapshots; failures can be queued."""

    def __init__(self, table: dict[str, CertSnapshot] | None = None) -> None:
        self.table = table or {}
        self.failures: list[BaseException] = []
        self.calls = 0
        self.store = FakeStore()

    async def get_many(self, creators: Collection[str]) -> dict[str, CertSnapshot]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {c: dict(self.table.get(c, {})) for c in creators}


class FakeChain:
    """The decision log's tail, for a partition without an outbox: empty (genesis)."""

    def __init__(self) -> None:
        self.reads: list[int] = []

    async def read(self, partition: int) -> str:
        self.reads.append(partition)
        return GENESIS


@dataclass
class FakeSchedule:
    added: list[tuple[bytes, list[Expiry]]] = field(default_factory=list)

    async def add(self, key: bytes, expiries: list[Expiry]) -> list[Awaitable[Any]]:
        self.added.append((key, list(expiries)))
        return []


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def default_policy() -> Policy:
    return load_policy((REPO_ROOT / "config" / "policy.yaml").read_text(encoding="utf-8"))


@dataclass
class Harness:
    """A Processor with fakes all round; `records` builds input records."""

    processor: Processor
    send: FakeSend
    states: FakeStates
    certs: FakeCerts
    schedule: FakeSchedule
    clock: Clock
    settings: Settings
    ids: FakeStates = field(default_factory=FakeStates)
    chain: FakeChain = field(default_factory=FakeChain)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def build(
        cls, *, now_ms: int = 1_780_000_000_000, settings: Settings | None = None,
        policy: Policy | None = None, auto_deliver: bool = True,
        partitions: Callable[[str], int | None] = lambda topic: None,
        fence: Callable[[Record], bool] = lambda record: True,
    ) -> Harness:  # fmt: skip
        settings = settings or Settings.from_env({})
        send, states, certs, ids = FakeSend(auto_deliver), FakeStates(), FakeCerts(), FakeStates()
        schedule, clock, chain = FakeSchedule(), Clock(now_ms), FakeChain()
        processor = Processor(
            settings, policy or default_policy(), certs, states, send, chain,  # type: ignore[arg-type]
            partitions, schedule, clock=clock, fence=fence, ids=ids,  # type: ignore[arg-type]
        )  # fmt: skip
        return cls(processor, send, states, certs, schedule, clock, settings, ids, chain)

    def record(self, kind: str, event: dict[str, Any] | bytes, partition: int = 0,
               key: bytes | None = None, topic: str | None = None,
               generation: int = 0) -> Record:  # fmt: skip
        topic = topic or {
            "live": self.settings.topics.live, "commerce": self.settings.topics.commerce,
            "reports": self.settings.topics.reports, "certs": self.settings.topics.certs,
        }.get(kind, kind)  # fmt: skip
        value = event if isinstance(event, bytes) else msgspec.json.encode(event)
        if key is None and isinstance(event, dict):
            key = str(event.get("creator_id", "")).encode()
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        return Record(topic, partition, offset, key, value, self.clock.now_ms, kind, generation)


def stream_started(creator: str, event_id: str, ts: int, category: str = "health",
                   stream_id: str = "s1") -> dict[str, Any]:  # fmt: skip
    return {"event_id": event_id, "type": "stream_started", "ts": ts, "creator_id": creator,
            "stream_id": stream_id, "category": category, "title": "t"}  # fmt: skip


async def micro_benchmark(
    events: int = 50_000, batch: int = 500, creators: int = 5_000
) -> dict[str, float]:
    """CPU µs per event of the processor alone (decode, decide, seal, emit) on a mixed load."""
    # All records carry one timestamp: a breaker floor above the load keeps it closed.
    settings = dataclasses.replace(Settings.from_env({}), breaker_floor=10 * events)
    h = Harness.build(settings=settings)
    ts = h.clock.now_ms - 60_000
    kinds = ("live", "commerce", "reports")
    records = []
    for i in range(events):
        creator = f"c{i % creators}"
        kind = kinds[i % 3]
        if kind == "live":
            body = stream_started(creator, f"e{i}", ts, category="gaming" if i % 7 else "health",
                                  stream_id=f"s{i % 11}")  # fmt: skip
        elif kind == "commerce":
            body = {"event_id": f"e{i}", "type": "product_linked", "ts": ts, "creator_id": creator,
                    "link_id": f"l{i}", "product_id": "p", "surface": "showcase",
                    "product_category": "general"}  # fmt: skip
        else:
            body = {"event_id": f"e{i}", "type": "report", "ts": ts, "creator_id": creator,
                    "source": "user", "reason": "unqualified_professional_content",
                    "reporter_id": f"r{i}", "stream_id": f"s{i % 11}"}  # fmt: skip
        records.append(h.record(kind, body))
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    for start in range(0, events, batch):
        await h.processor.process(records[start : start + batch])
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started_wall
    return {"events": events, "cpu_us_per_event": cpu / events * 1e6,
            "events_per_s": events / wall, "records_sent": len(h.send.sent)}  # fmt: skip
