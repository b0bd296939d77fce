"""The expiry schedule scans its table only once something can be due."""

from __future__ import annotations

from typing import Any

import msgspec

from pipeline.domain.expiries import Expiry
from pipeline.engine.expiries import ExpirySchedule


class CountingStore:
    """A changelogged store whose scans are counted (items() is what a scan reads)."""

    def __init__(self) -> None:
        self.scans = 0
        store = self

        class Data(dict[bytes, bytes]):
            def items(self) -> Any:
                store.scans += 1
                return super().items()

        self.data = Data()

    async def set(self, key: bytes, value: bytes | None, partition: int) -> Any:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
        return None


def expiry(at_ms: int) -> Expiry:
    return Expiry(domain="health", at_ms=at_ms, stream_id="s1")


async def test_due_scans_only_when_something_can_be_due():
    store = CountingStore()
    schedule = ExpirySchedule(store, 6)
    await schedule.add(b"c1", [expiry(1_000)])
    assert schedule.due(500) == []  # unknown until the first scan: it scans once
    assert store.scans == 1
    for now in (600, 700, 999):
        assert schedule.due(now) == []
    assert store.scans == 1  # nothing can be due before 1,000: no scan
    assert schedule.due(1_000) == [(b"c1", expiry(1_000))]
    assert schedule.due(1_001) == [(b"c1", expiry(1_000))]  # not done yet: again
    await schedule.done(b"c1", [expiry(1_000)])
    assert schedule.due(1_002) == []
    scans = store.scans
    assert schedule.due(10**12) == []  # empty: nothing is ever due, no scan
    assert store.scans == scans


async def test_an_earlier_entry_and_a_rescan_bring_the_scan_forward():
    store = CountingStore()
    schedule = ExpirySchedule(store, 6)
    await schedule.add(b"c1", [expiry(5_000)])
    assert schedule.due(0) == []
    await schedule.add(b"c2", [expiry(2_000)])
    assert schedule.due(2_000) == [(b"c2", expiry(2_000))]
    await schedule.done(b"c2", [expiry(2_000)])
    assert schedule.due(2_500) == []  # the next scan knows of 5,000 only
    # An entry restored from the changelog (written to the table, not through add) is not
    # seen until the schedule is told to scan again (rebalance, recovery).
    store.data[b"c3"] = msgspec.json.encode([expiry(3_000)])
    assert schedule.due(3_000) == []
    schedule.rescan()
    assert schedule.due(3_000) == [(b"c3", expiry(3_000))]
