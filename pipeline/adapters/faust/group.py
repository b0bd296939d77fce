"""Which records are still this worker's: the consumer group's generations, as Faust has them.

Part of the one door to Faust's internals (pipeline/adapters/faust/).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import faust

from pipeline.adapters.records import Record


class Fence:
    """Which records are still this worker's to decide and ack.

    A record is fetched in a consumer generation (`message.generation_id`); a partition has
    been this worker's without a break since some generation. A record is this worker's
    when its partition still is and was already then: a partition that moved to another
    worker and back may have been decided there meanwhile. While a rebalance is under way
    nobody can tell, so the processor waits for it to settle (`settled`) before it decides
    or writes. A record that is not this worker's is dropped unacked: its partition's owner
    reads it again from the committed offset.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.since: dict[tuple[str, int], int] = {}  # (topic, partition) -> generation
        self.rebalancing = True  # until the first assignment
        started = app.on_rebalance_start

        def on_rebalance_start() -> None:
            # Faust calls this first thing in the consumer's revocation callback (from the
            # consumer's thread, before anything is revoked); it has no signal of its own,
            # hence the wrapper.
            self.rebalancing = True
            started()

        app.on_rebalance_start = on_rebalance_start  # type: ignore[method-assign]

    def assigned(self, tps: Iterable[Any]) -> None:
        """The new assignment (Faust's on_partitions_assigned signal, in the main loop)."""
        generation = self.app.consumer_generation_id
        kept = self.since
        self.since = {
            (tp.topic, tp.partition): kept.get((tp.topic, tp.partition), generation) for tp in tps
        }
        self.rebalancing = False

    def restored(self) -> bool:
        """Whether Faust's word that a recovery is complete (its on_rebalance_complete
        signal) is about the current assignment: its tables are restored. A recovery
        that a newer rebalance interrupted can still send it (faust-streaming 0.15.3:
        `Recovery.on_recovery_completed` sends it before it checks the generation) while
        the new assignment's stores hold whatever the worker last had of them: nothing
        may be read from them then. The newer rebalance's recovery is pending then (its
        start signal is set) or the rebalance has not been assigned yet; its own
        completion says so again."""
        pending = self.app.tables.recovery.signal_recovery_start.is_set()
        return not self.rebalancing and not pending

    async def settled(self) -> None:
        # The flag is set from the consumer's thread: look at it, not at an asyncio Event.
        while self.rebalancing:
            await asyncio.sleep(0.05)

    def owns(self, record: Record) -> bool:
        since = self.since.get((record.topic, record.partition))
        return since is not None and since <= record.generation
