"""`livegate bench --scale`: a worker that owns the state of a million creators, per store.

For each store (LIVEGATE_STORE: memory://, rocksdb://), on its own topics:

1. the creator-state table's changelog (`<app id>-creator-state-changelog`, compacted, the
   name Faust gives it) is preloaded with one encoded CreatorState per creator, on the
   partition the creator's events go to, as the worker itself writes it;
2. a worker starts with an empty local store (first start), then again on the same data
   directory (restart); before each, a few probe events for known creators are produced;
   with RocksDB, then a failover: a second worker joins on a fresh data directory (with
   one standby replica, then with none), the first is killed (-9), and probes for every
   partition are decided by the survivor;
3. reported: time from the worker's spawn to the end of its recovery (its Faust sensor's
   rebalance done) and to its first decision, the restore rate that implies, the worker's
   resident memory then and its peak. A first decision that does not come within
   DECISION_WAIT_S of the recovery is reported as none.

Faust's in-memory store restores the whole changelog at every start and holds every
creator in RAM; RocksDB keeps the table on disk with the changelog offset it holds, so a
restart reads only what was written since.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka.admin import NewTopic

from pipeline.adapters import kafka
from pipeline.adapters.settings import STORES
from pipeline.bench.kafkaio import BenchError, OutputWatch, produce
from pipeline.bench.procs import Proc, free_port
from pipeline.bench.topics import Run, System
from pipeline.bench.workload import InputRecord
from pipeline.domain.state import CreatorState, encode_state

PROBES = 20  # probe events before each start: the first decision is the clock's end
DECISION_WAIT_S = 60.0  # after the recovery, at most this long for the first decision


def creator_id(i: int) -> str:
    return f"scale-{i:07d}"


def state_records(creators: int, topic_kind: str, now: int) -> list[InputRecord]:
    """One changelog record per creator: a state of a creator seen a few times."""
    out = []
    for i in range(creators):
        cid = creator_id(i)
        decided = {f"{cid}-e{j}": now - (5 - j) * 60_000 for j in range(5)}
        state = CreatorState(credit=100, newest_ts=now - 60_000, decided=decided)
        out.append(InputRecord(topic_kind, cid.encode(), encode_state(state), "", ""))
    return out


def probe_records(creators: int, start: int, now: int) -> list[InputRecord]:
    """Stream starts of creators whose state is preloaded (spread over the partitions)."""
    out = []
    step = max(1, creators // PROBES)
    for n in range(PROBES):
        cid = creator_id((n * step + start) % creators)
        event_id = f"probe-{start}-{n}"
        event = {"event_id": event_id, "type": "stream_started", "ts": now, "creator_id": cid,
                 "stream_id": f"s-{event_id}", "category": "gaming"}  # fmt: skip
        out.append(InputRecord("live", cid.encode(), json.dumps(event).encode(), event_id,
                               "stream_started"))  # fmt: skip
    return out


class ScaleBench:
    def __init__(
        self, run: Run, creators: int, say: Callable[[str], None],
        spawn: Callable[[str, list[str], System, dict[str, str]], Proc],
        stores: tuple[str, ...] = STORES,
    ) -> None:  # fmt: skip
        self.stores = stores
        self.run = run
        self.creators = creators
        self.say = say
        self.spawn = spawn

    async def execute(self) -> dict[str, Any]:
        now = int(time.time() * 1000)
        result: dict[str, Any] = {"creators": self.creators, "stores": {}}
        for store in self.stores:
            name = store.removesuffix("://")
            result["stores"][name] = await self._store(store, name, now)
        return result

    async def _ready(self, worker: Proc, port: int, spawned: float) -> float:
        """Seconds from spawn until the worker's rebalance (its table recovery) is done."""
        from pipeline.bench.runner import _metrics_or_none, _settled

        while time.monotonic() - spawned < 900:
            worker.check()
            if _settled(await _metrics_or_none(port)):
                return time.monotonic() - spawned
            await asyncio.sleep(0.2)
        raise BenchError(f"{worker.name} did not finish its recovery in 900s")

    async def _store(self, store: str, name: str, now: int) -> dict[str, Any]:
        system = self.run.system(f"scale_{name}")
        s = system.settings
        await self.run.create_topics(system, everything=True)
        changelog = f"{s.app_id}-creator-state-changelog"
        compact = {"cleanup.policy": "compact"}
        await kafka.ensure_topics(self.run.settings, [NewTopic(changelog, s.partitions, 1,
                                                               topic_configs=compact)])  # fmt: skip
        records = state_records(self.creators, "changelog", now)
        size = sum(len(r.value) for r in records) / len(records)
        started = time.perf_counter()
        await produce(self.run.settings, {"changelog": changelog}, records)
        wrote = time.perf_counter() - started
        del records
        self.say(f"scale {name}: {self.creators:,} creator states ({size:.0f} bytes each) "
                 f"written to {changelog} in {wrote:.1f}s")  # fmt: skip
        env = {"LIVEGATE_STORE": store}
        port = free_port()
        figures: dict[str, Any] = {"state_bytes": size, "changelog_write_s": wrote}
        watch = await OutputWatch(self.run.settings, system.output).start()
        try:
            for n, phase in enumerate(("first_start", "restart")):
                before = await watch.total()
                await produce(self.run.settings, system.inputs,
                              probe_records(self.creators, n, now))  # fmt: skip
                args = ["pipeline.cli", "worker", "--web-port", str(port), "--loglevel", "warning"]
                spawned = time.monotonic()
                worker = self.spawn(f"scale worker ({name}, {phase})", args, system, env)
                first: float | None = None
                try:
                    ready = await self._ready(worker, port, spawned)
                    rss, peak = worker.rss_mb(), worker.peak_rss_mb()
                    try:
                        await watch.wait_for(before + 1, worker.check, f"scale {name} {phase}",
                                             stall_s=DECISION_WAIT_S, poll_s=0.05)  # fmt: skip
                        first = time.monotonic() - spawned
                        await watch.wait_for(before + PROBES, worker.check, f"scale {name}")
                    except BenchError as exc:  # reported, not fatal: the other figures stand
                        self.say(f"scale {name} {phase}: {exc}")
                    rss, peak = worker.rss_mb(), worker.peak_rss_mb()
                finally:
                    await worker.stop()
                figures[phase] = {"to_ready_s": ready, "to_first_decision_s": first,
                                  "rss_mb": rss, "peak_rss_mb": peak}  # fmt: skip
                if phase == "first_start":  # everything restored (start-up included)
                    figures[phase]["restore_rate_per_s"] = self.creators / ready
                decided = "none" if first is None else f"{first:.1f}s"
                self.say(f"scale {name} {phase}: ready (restored) after {ready:.1f}s, first "
                         f"decision {decided}, RSS {rss:.0f} MB, peak {peak:.0f} MB")  # fmt: skip
            if store == "rocksdb://":
                for standby in (1, 0):
                    key = "failover_standby" if standby else "failover_no_standby"
                    figures[key] = await self._failover(system, env, port, watch, now, standby)
        finally:
            await watch.stop()
        return figures

    async def _failover(
        self, system: System, env: dict[str, str], port: int, watch: OutputWatch, now: int,
        standby: int,
    ) -> dict[str, Any]:  # fmt: skip
        """Two workers (the first on its warm data directory, the second fresh, on another
        machine as it were); once both are ready and the second idle (its standby copies,
        if any, caught up), the first is killed (-9): seconds from the kill to the first
        decision of an event for one of the partitions it owned, and the survivor's RSS."""
        env = {**env, "LIVEGATE_STANDBY_REPLICAS": str(standby)}
        label = f"failover ({'a standby' if standby else 'no standby'})"
        args = ["pipeline.cli", "worker", "--loglevel", "warning", "--web-port"]
        first = self.spawn(f"scale worker (first, {label})", [*args, str(port)], system, env)
        await self._ready(first, port, time.monotonic())
        port2 = free_port()
        second = self.spawn(f"scale worker (second, {label})", [*args, str(port2)], system, env)
        try:
            ready = await self._ready(second, port2, time.monotonic())
            await _idle(second)
            before = await watch.total()
            probes = probe_records(self.creators, 10 + standby, now)
            killed = time.monotonic()
            first.kill()
            await produce(self.run.settings, system.inputs, probes)
            decided: float | None = None
            try:
                await watch.wait_for(before + len(probes), second.check, f"scale {label}",
                                     stall_s=240, poll_s=0.05)  # fmt: skip
                decided = time.monotonic() - killed
            except BenchError as exc:
                self.say(f"scale {label}: {exc}")
            rss, peak = second.rss_mb(), second.peak_rss_mb()
        finally:
            await second.stop()
            await first.stop()
        shown = "none" if decided is None else f"{decided:.1f}s"
        self.say(
            f"scale {label}: the second worker ready after {ready:.1f}s; every probe "
            f"decided {shown} after the kill -9; RSS {rss:.0f} MB, peak {peak:.0f} MB"
        )
        return {
            "standby_replicas": standby, "second_ready_s": ready,
            "to_all_decided_after_kill_s": decided, "rss_mb": rss, "peak_rss_mb": peak,
        }  # fmt: skip


async def _idle(proc: Proc, busy: float = 0.15, timeout: float = 300) -> None:
    """Until the process uses less than `busy` of a core over a second (restores done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check()
        before = proc.cpu_seconds() or 0.0
        await asyncio.sleep(1.0)
        if (proc.cpu_seconds() or 0.0) - before < busy:
            return
