"""The worker's follower of enforcement.policies (engine/activations.py), with a fake topic."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.domain.activation import PolicyBook, encode_activation, new_activation
from pipeline.domain.policy import load_policy
from pipeline.engine.activations import STALE_S, Activations
from tests.unit.domain.builders import POLICY, POLICY_TEXT

OTHER = POLICY_TEXT.replace("  live.unqualified:\n", "  live.unqualified:\n    mode: shadow\n", 1)


class FakeTail:
    def __init__(self) -> None:
        self.pending: list[Record] = []
        self.offset = 0

    def add(self, key: bytes, value: bytes | None) -> None:
        self.pending.append(Record("policies", 0, self.offset, key, value, 0))
        self.offset += 1

    async def read_new(self) -> list[Record]:
        out, self.pending = self.pending, []
        return out


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def follower() -> tuple[Activations, FakeTail, list[PolicyBook], Clock]:
    books: list[PolicyBook] = []
    clock = Clock()
    a = Activations(Settings(), POLICY, books.append, monotonic=clock)
    tail = FakeTail()
    a.tail = tail  # type: ignore[assignment]
    return a, tail, books, clock


def record_of(text: str, effective_from: int, at: int = 5) -> tuple[bytes, bytes]:
    act = new_activation(text, effective_from, "t", at)
    return act.activation_id.encode(), encode_activation(act)


async def test_new_versions_are_taken_without_a_restart_and_bad_records_are_left_out():
    a, tail, books, _ = follower()
    tail.add(*record_of(POLICY_TEXT, 0))
    tail.add(b"v2-bare", b"categories: {}")  # v2 history: decides nothing, not a problem
    await a.start()
    assert len(books) == 1 and books[0].latest.version == POLICY.version and a.bad == {}
    tail.add(*record_of(OTHER, 10_000))
    key, value = record_of(OTHER, 20_000)
    half = msgspec.json.encode({**msgspec.json.decode(value), "text": OTHER[:200]})
    tail.add(key, half)  # claims to be an activation, its text is not its version's
    assert await a.read_once()
    a._rebuild()
    book = books[-1]
    assert book.at(9_999).version == POLICY.version
    assert book.at(10_000).version == load_policy(OTHER).version
    assert book.at(30_000).version == load_policy(OTHER).version  # never the half-read one
    assert list(a.bad) == [key.decode()]
    ok, _ = a.check()
    assert ok


async def test_an_empty_topic_gets_the_file_as_first_activation(monkeypatch):
    a, tail, books, _ = follower()
    sent = []

    async def publish(settings, activation):  # type: ignore[no-untyped-def]
        sent.append(activation)
        tail.add(activation.activation_id.encode(), encode_activation(activation))

    monkeypatch.setattr("pipeline.engine.activations.publish", publish)
    await a.start()
    assert [(s.effective_from, s.policy_version) for s in sent] == [(0, POLICY.version)]
    assert books[-1].latest.version == POLICY.version


async def test_deciding_pauses_when_the_topic_was_not_read_for_the_lead():
    a, tail, _, clock = follower()
    tail.add(*record_of(POLICY_TEXT, 0))
    await a.start()
    await asyncio.wait_for(a.gate(), 1)  # fresh: no wait
    clock.t += STALE_S + 1
    ok, why = a.check()
    assert not ok and "paused" in why
    waiting = asyncio.ensure_future(a.gate())
    await asyncio.sleep(0.7)
    assert not waiting.done()
    await a.read_once()  # read again: deciding resumes
    await asyncio.wait_for(waiting, 2)


@pytest.mark.parametrize("value", [b"{not json", b'{"activation_id": 5}'])
async def test_records_that_are_not_activations_never_stop_the_start(value: bytes):
    a, tail, books, _ = follower()
    tail.add(*record_of(POLICY_TEXT, 0))
    tail.add(b"k", value)
    await a.start()
    assert books[-1].latest.version == POLICY.version
