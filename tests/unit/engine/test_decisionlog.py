"""The decision log's tail: the chain continues from the last record LiveGate sealed, and an
empty fetch is retried, never taken for an empty partition (engine with a fake consumer)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from pipeline.adapters import metrics
from pipeline.adapters.settings import Settings
from pipeline.domain.audit import GENESIS, seal
from pipeline.engine import decisionlog
from pipeline.engine.decisionlog import _continue_from, _read_range, sealed_hash

KEY = Settings().seal_key


def sealed(n: int, prev: str) -> tuple[bytes, str]:
    return seal({"decision_id": f"d{n}", "event_id": f"e{n}", "outcome": "allow"}, prev, KEY)


def unsealed(n: int, prev: str) -> tuple[bytes, str]:
    """A record whose hash verifies but that carries no seal: pre-v3, or a forger's."""
    return seal({"decision_id": f"d{n}", "event_id": f"e{n}", "outcome": "allow"}, prev)


def foreign_count() -> float:
    return metrics.FOREIGN_DECISION_RECORDS._value.get()


FOREIGN = [
    b"not json at all",
    b'{"decision_id": "d9", "prev_hash": "00',  # a partial write
    b'["a", "list"]',
    b'{"hello": "another producer"}',
    json.dumps({"hash": "f" * 64, "prev_hash": "e" * 64}).encode(),  # a hash that lies
    b"\xff\xfe",
    None,
]


def test_only_records_livegate_sealed_have_a_hash_to_continue_from():
    value, digest = sealed(1, GENESIS)
    assert sealed_hash(value) == digest
    assert [sealed_hash(v) for v in FOREIGN] == [None] * len(FOREIGN)


def test_the_chain_continues_from_the_last_sealed_record_past_foreign_ones(caplog):
    v1, h1 = sealed(1, GENESIS)
    v2, h2 = sealed(2, h1)
    tail = [(10, v1), (11, v2), *[(12 + i, v) for i, v in enumerate(FOREIGN)]]
    before = foreign_count()
    assert _continue_from(3, tail, 10, 0, 12 + len(FOREIGN), "t.decisions") == h2
    assert foreign_count() - before == len(FOREIGN)
    assert "not sealed by LiveGate" in caplog.text and "t.decisions[3]" in caplog.text
    assert "continuing the chain from offset 11" in caplog.text


def test_a_correct_hash_without_a_valid_seal_does_not_continue_a_sealed_chain(caplog):
    v1, h1 = sealed(1, GENESIS)
    forged, _ = unsealed(2, h1)  # hash recomputed by whoever can write the topic
    wrong, _ = seal({"decision_id": "d3", "event_id": "e3"}, h1, ("dev", "a guessed secret"))
    stranger, _ = seal({"decision_id": "d4", "event_id": "e4"}, h1, ("other", "x"))
    tail = [(0, v1), (1, forged), (2, wrong), (3, stranger)]
    assert _continue_from(0, tail, 0, 0, 4, "t") == h1
    assert "offsets 1, 2, 3" in caplog.text
    assert sealed_hash(forged) is None and sealed_hash(wrong) is None


def test_records_of_the_previous_version_unsealed_continue_their_chain_after_an_upgrade(caplog):
    v1, h1 = unsealed(1, GENESIS)
    v2, h2 = unsealed(2, h1)
    assert _continue_from(0, [(0, v1), (1, v2)], 0, 0, 2, "t") == h2
    assert "not sealed" not in caplog.text


def test_a_partition_of_only_foreign_records_starts_at_genesis():
    assert _continue_from(0, [(0, b"x"), (1, b"y")], 0, 0, 2, "t") == GENESIS


class FakeConsumer:
    """Returns the given fetches in turn, then nothing."""

    def __init__(self, fetches: list[list[tuple[int, bytes]]], end: int) -> None:
        self.fetches = fetches
        self.pos = 0
        self.end = end

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.pos = offset

    async def getmany(self, tp: TopicPartition, timeout_ms: int) -> dict:
        await asyncio.sleep(0)
        if not self.fetches:
            return {}
        batch = [SimpleNamespace(offset=o, value=v) for o, v in self.fetches.pop(0)]
        self.pos = batch[-1].offset + 1 if batch else self.pos
        return {tp: batch}

    async def position(self, tp: TopicPartition) -> int:
        return self.pos


async def test_an_empty_fetch_is_retried_until_the_tail_is_read():
    tp = TopicPartition("t", 0)
    consumer = FakeConsumer([[], [], [(5, b"a")], [], [(6, b"b")]], end=7)
    assert await _read_range(consumer, tp, 5, 7) == [(5, b"a"), (6, b"b")]


async def test_a_tail_that_cannot_be_read_raises_for_a_retry_never_genesis(monkeypatch):
    monkeypatch.setattr(decisionlog, "FETCH_TIMEOUT_S", 0.05)
    tp = TopicPartition("t", 0)
    with pytest.raises(KafkaTimeoutError, match="not starting the chain at genesis"):
        await _read_range(FakeConsumer([], end=7), tp, 5, 7)
