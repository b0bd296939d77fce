"""The console's outside world, in memory: its shared store (Redis in production), the
verdict producer and the certification table, for the console run in-process."""

from __future__ import annotations

from typing import Any

from pipeline.console.throttle import Failures
from pipeline.console.web import Console


class MemoryStore:
    def __init__(self) -> None:
        self.epochs: dict[str, int] = {}
        self.fails: dict[str, Failures] = {}

    async def epoch(self, reviewer_id: str) -> int:
        return self.epochs.get(reviewer_id, 0)

    async def end_sessions(self, reviewer_id: str) -> int:
        self.epochs[reviewer_id] = self.epochs.get(reviewer_id, 0) + 1
        return self.epochs[reviewer_id]

    async def failures(self, subjects: list[str]) -> list[Failures]:
        return [self.fails.get(s, Failures()) for s in subjects]

    async def fail(self, subjects: list[str], now_ms: int, ttl_ms: int) -> list[Failures]:
        for s in subjects:
            self.fails[s] = Failures(self.fails.get(s, Failures()).count + 1, now_ms)
        return [self.fails[s] for s in subjects]

    async def clear(self, subject: str) -> None:
        self.fails.pop(subject, None)


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, key, value))


class Certs:
    async def snapshot(self, creator_id: str) -> dict[str, Any]:
        return {}


class InProcessConsole(Console):
    """The console with its fakes: no Kafka, no Redis."""

    async def start(self) -> None:
        self.producer = Producer()  # type: ignore[assignment]
        self.certs = Certs()  # type: ignore[assignment]
        await self.views.start()

    async def stop(self) -> None:
        await self.views.stop()
        self.audit.close()
