"""The decided-ids store's local purge (pipeline/engine/idsweep.py): ids decided longer ago
than the horizon and a day leave the local store, in slices, and nothing else does; with a
real RocksDB database (the worker's store) and with the memory store."""

from __future__ import annotations

from pathlib import Path

import rocksdict
from faust.stores.rocksdb import Store as RocksStore

from pipeline.adapters.batchsend import BatchSend
from pipeline.adapters.faust.tables import TableStates
from pipeline.engine import idsweep
from tests.unit.engine.test_table_states import Producer, Table

DAY = 86_400_000
NOW = 1_800_000_000_000
HORIZON = 7 * DAY


def rocks_states(tmp_path: Path, partitions: int = 2) -> TableStates:
    store = RocksStore.__new__(RocksStore)  # the store as Faust opens it, without an app
    store._dbs = {
        p: rocksdict.Rdict(str(tmp_path / f"p{p}"), options=rocksdict.Options(raw_mode=True))
        for p in range(partitions)
    }
    table = Table()
    table.data = store  # type: ignore[assignment]
    return TableStates(table, BatchSend(lambda: Producer()))  # type: ignore[arg-type, arg-type]


def test_values_carry_the_event_time_and_the_decision_time():
    assert idsweep.event_ts(idsweep.id_value(5, 9)) == 5
    assert idsweep.decided_at(idsweep.id_value(5, 9)) == 9
    # A value of an earlier version holds the event time only: it stands for both.
    assert idsweep.event_ts(b"7") == 7 and idsweep.decided_at(b"7") == 7
    assert idsweep.event_ts(b"junk") is None and idsweep.decided_at(b"1 junk") is None


async def test_ids_past_the_horizon_and_a_day_leave_the_rocksdb_store_and_only_they(tmp_path):
    states = rocks_states(tmp_path)
    cutoff = idsweep.horizon_cutoff(NOW, HORIZON)
    old, kept = [], []
    writes = []
    for n in range(2_500):
        p = n % 2
        if n % 3 == 0:  # decided 9 days ago
            key, value = b"c%d\x1fold%d" % (n, n), idsweep.id_value(NOW - 9 * DAY, NOW - 9 * DAY)
            old.append((key, p))
        elif n % 3 == 1:  # a late event (ts 30 days back) decided an hour ago: kept
            key, value = b"c%d\x1flate%d" % (n, n), idsweep.id_value(NOW - 30 * DAY, NOW - 3600_000)
            kept.append((key, p))
        else:  # an earlier version's value (event time only), 2 days old: kept
            key, value = b"c%d\x1fv1%d" % (n, n), str(NOW - 2 * DAY).encode()
            kept.append((key, p))
        writes.append((key, value, p))
    await states.set_many(writes)
    states.rocks._dbs[0][b"c0\x1fjunk"] = b"not a number"  # unreadable: left alone
    states.rocks._dbs[0][RocksStore.offset_key] = b"123"  # Faust's own key: never touched
    dropped = await idsweep.purge(states, [0, 1], cutoff, slice_size=100)
    assert dropped == len(old)
    assert all(states.get(k, p) is None for k, p in old)
    assert all(states.get(k, p) is not None for k, p in kept)
    assert states.rocks._dbs[0][b"c0\x1fjunk"] == b"not a number"
    assert states.rocks._dbs[0][RocksStore.offset_key] == b"123"
    assert await idsweep.purge(states, [0, 1], cutoff, slice_size=100) == 0  # idempotent


async def test_the_memory_store_is_purged_in_one_pass_of_slices():
    table = Table()
    states = TableStates(table, BatchSend(lambda: Producer()))  # type: ignore[arg-type]
    cutoff = idsweep.horizon_cutoff(NOW, HORIZON)
    await states.set_many([(b"a%d" % n, idsweep.id_value(NOW, NOW - (n % 2) * 10 * DAY), 0)
                           for n in range(1_001)])  # fmt: skip
    assert not states.partitioned
    dropped = await idsweep.purge(states, [-1], cutoff, slice_size=64)
    assert dropped == 500 and len(table.data) == 501
    assert all(idsweep.decided_at(v) == NOW for v in table.data.values())
