"""The expiry schedule scans its table only once something can be due."""

from __future__ import annotations

from typing import Any

import msgspec

from pipeline.domain.expiries import Expiry
from pipeline.engine.expiries import ExpirySchedule


class CountingTable:
    """A table whose scans are counted (items() is what a scan reads)."""

    def __init__(self) -> None:
        self.store: dict[bytes, bytes] = {}
        self.scans = 0
        table = self

        class Data(dict[bytes, bytes]):
            def items(self) -> Any:
                table.scans += 1
                return super().items()

        self.data = Data()

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self.data[key]


def expiry(at_ms: int) -> Expiry:
    return Expiry(domain="health", at_ms=at_ms, stream_id="s1")


def test_due_scans_only_when_something_can_be_due():
    table = CountingTable()
    schedule = ExpirySchedule(table)
    schedule.add(b"c1", [expiry(1_000)])
    assert schedule.due(500) == []  # unknown until the first scan: it scans once
    assert table.scans == 1
    for now in (600, 700, 999):
        assert schedule.due(now) == []
    assert table.scans == 1  # nothing can be due before 1,000: no scan
    assert schedule.due(1_000) == [(b"c1", expiry(1_000))]
    assert schedule.due(1_001) == [(b"c1", expiry(1_000))]  # not done yet: again
    schedule.done(b"c1", [expiry(1_000)])
    assert schedule.due(1_002) == []
    scans = table.scans
    assert schedule.due(10**12) == []  # empty table: nothing is ever due
    assert table.scans == scans


def test_an_earlier_entry_and_a_forget_bring_the_scan_forward():
    table = CountingTable()
    schedule = ExpirySchedule(table)
    schedule.add(b"c1", [expiry(5_000)])
    assert schedule.due(0) == []
    schedule.add(b"c2", [expiry(2_000)])
    assert schedule.due(2_000) == [(b"c2", expiry(2_000))]
    schedule.done(b"c2", [expiry(2_000)])
    assert schedule.due(2_500) == []  # the next scan knows of 5,000 only
    # An entry restored from the changelog (written to the table, not through add) is not
    # seen until the schedule is told to forget what it knew (rebalance, recovery).
    table[b"c3"] = msgspec.json.encode([expiry(3_000)])
    assert schedule.due(3_000) == []
    schedule.forget()
    assert schedule.due(3_000) == [(b"c3", expiry(3_000))]
