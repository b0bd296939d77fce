"""The fence: a record is the worker's when its partition has been continuously the worker's
since the record was fetched (agents/runtime.py). A partition kept across a rebalance keeps
its records (dropping them would lose them: nothing fetches them again); one that moved away
and back does not (its new owner may have decided them meanwhile)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from pipeline.adapters.faust.group import Fence
from pipeline.adapters.records import Record


def tp(partition: int, topic: str = "live"):
    return SimpleNamespace(topic=topic, partition=partition)


def record(partition: int, generation: int, topic: str = "live") -> Record:
    return Record(topic, partition, 0, b"k", b"{}", 0, "live", generation)


def make() -> tuple[Fence, SimpleNamespace]:
    recovery = SimpleNamespace(signal_recovery_start=asyncio.Event())
    app = SimpleNamespace(
        consumer_generation_id=0, on_rebalance_start=lambda: None,
        tables=SimpleNamespace(recovery=recovery),
    )  # fmt: skip
    return Fence(app), app  # type: ignore[arg-type]


def test_a_kept_partition_keeps_the_records_fetched_before_the_rebalance():
    fence, app = make()
    app.consumer_generation_id = 3
    fence.assigned([tp(0), tp(1)])
    before = record(0, 3)
    app.on_rebalance_start()
    assert fence.rebalancing  # the processor waits until it settles
    app.consumer_generation_id = 4
    fence.assigned([tp(0)])  # partition 1 moved away
    assert not fence.rebalancing
    assert fence.owns(before) and fence.owns(record(0, 4))
    assert not fence.owns(record(1, 3))


def test_a_partition_that_moved_away_and_back_drops_what_it_fetched_before():
    fence, app = make()
    app.consumer_generation_id = 3
    fence.assigned([tp(0), tp(1)])
    app.consumer_generation_id = 4
    fence.assigned([tp(0)])
    app.consumer_generation_id = 5
    fence.assigned([tp(0), tp(1)])
    assert not fence.owns(record(1, 3))  # fetched before it left: another worker's then
    assert fence.owns(record(1, 5)) and fence.owns(record(0, 3))


def test_a_recovery_is_the_current_assignments_only_once_it_is_assigned_and_none_is_pending():
    """Faust sends on_rebalance_complete from a recovery a newer rebalance interrupted too
    (a worker that rejoined at once, after a freeze: its stores not yet restored). The
    outbox must not be read then (agents/app.py)."""
    fence, app = make()
    assert not fence.restored()  # before the first assignment
    app.consumer_generation_id = 4
    fence.assigned([tp(0)])
    assert fence.restored()
    app.on_rebalance_start()  # a newer rebalance: its revocation under way
    assert not fence.restored()
    app.consumer_generation_id = 5
    fence.assigned([tp(0), tp(1)])
    app.tables.recovery.signal_recovery_start.set()  # its recovery is about to start
    assert not fence.restored()  # the old recovery's completion says nothing of it
    app.tables.recovery.signal_recovery_start.clear()  # the recovery loop took it up
    assert fence.restored()
