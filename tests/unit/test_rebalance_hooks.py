"""The worker's rebalance hooks (agents/app.py): an outbox is read only from restored stores.

Faust sends on_rebalance_complete from a recovery that a newer rebalance interrupted too; the
hook must then wait for the newer recovery's own completion (Fence.restored). Driven with a
stand-in for the Faust app: the hooks are what is under test, not Faust.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from agents.app import _follow_rebalances
from pipeline.adapters.faust.group import Fence


class Signal:
    def __init__(self) -> None:
        self.receivers: list[Any] = []

    def connect(self, fn: Any) -> Any:
        self.receivers.append(fn)
        return fn

    async def send(self, app: Any, **kwargs: Any) -> None:
        for fn in self.receivers:
            await fn(app, **kwargs)


def stand_in() -> tuple[SimpleNamespace, SimpleNamespace, list[set[int]]]:
    app = SimpleNamespace(
        consumer_generation_id=1, on_rebalance_start=lambda: None, consumer=None,
        tables=SimpleNamespace(recovery=SimpleNamespace(signal_recovery_start=asyncio.Event())),
        on_partitions_revoked=Signal(), on_before_shutdown=Signal(),
        on_partitions_assigned=Signal(), on_rebalance_complete=Signal(),
        timer=lambda *a, **k: (lambda fn: fn),
    )  # fmt: skip
    resumed: list[set[int]] = []

    async def resume(partitions: set[int]) -> None:
        resumed.append(partitions)

    rt = SimpleNamespace(
        fence=Fence(app),  # type: ignore[arg-type]
        processor=SimpleNamespace(resume=resume, forget=lambda lost: None),
        kinds={"live": "live"},
    )  # fmt: skip
    _follow_rebalances(app, rt)  # type: ignore[arg-type]
    return app, rt, resumed


def tp(partition: int) -> TP:
    return TP("live", partition)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_completed_recovery_resumes_the_assigned_partitions():
    app, _, resumed = stand_in()
    await app.on_partitions_assigned.send(app, assigned=[tp(0), tp(1)])
    await app.on_rebalance_complete.send(app)
    await settle()
    assert resumed == [{0, 1}]


async def test_a_recovery_a_newer_rebalance_interrupted_resumes_nothing_until_its_own_ends():
    app, _, resumed = stand_in()
    app.consumer_generation_id = 5
    await app.on_partitions_assigned.send(app, assigned=[tp(0), tp(1), tp(2)])
    app.tables.recovery.signal_recovery_start.set()  # generation 5's recovery, pending
    await app.on_rebalance_complete.send(app)  # generation 4's, interrupted
    await settle()
    assert resumed == []
    app.tables.recovery.signal_recovery_start.clear()  # generation 5's recovery runs, ends
    await app.on_rebalance_complete.send(app)
    await settle()
    assert resumed == [{0, 1, 2}]


async def test_a_rebalance_that_begins_before_the_resume_runs_stops_it():
    app, _, resumed = stand_in()
    await app.on_partitions_assigned.send(app, assigned=[tp(0)])
    await app.on_rebalance_complete.send(app)  # the resume is scheduled, not yet run
    app.on_rebalance_start()
    await settle()
    assert resumed == []
