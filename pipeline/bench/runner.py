"""The bench's phases, in order, each system in its own process on its own topics:

1. workload: creators, the certification table (preloaded, timed), the backlog of N records;
2. limit: raw aiokafka passthrough over a pre-produced backlog;
3. floor: bare Faust passthrough over the same backlog, then the paced regimes
   (pipeline/bench/regimes.py: 200, 1,000 and min(5,000, half its maximum) events/s, and
   events produced while it runs);
4. LiveGate, one worker: the same backlog, then the same paced regimes, with CPU per batch;
   Redis round trips per event and peak memory from that worker;
5. LiveGate, two workers (full run only): both ready and the group stable, then the backlog,
   with each worker's share of the events and of the CPU.

Throughput = events / (last output − first output), from the output records' broker
timestamps. CPU = user + system time from /proc/<pid>/stat of the system's process(es) and
of the broker (the process listening on the bootstrap port, when it runs on this machine),
sampled when the phase's first output is seen and when its last one is, so start-up is not
counted; per event = that CPU / the outputs between the two samples. Anything that stops a
phase from measuring is a BenchError; slowness never is.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from pipeline.adapters import kafka
from pipeline.adapters.settings import REPO_ROOT
from pipeline.bench.faustopts import client_options, printable, worker_app_options
from pipeline.bench.kafkaio import BenchError, OutputWatch, Span, produce
from pipeline.bench.procs import CpuMeter, Proc, free_port, listener_pid, scrape
from pipeline.bench.regimes import regimes
from pipeline.bench.topics import Run, System
from pipeline.bench.workload import InputRecord, Workload, mark_loaded, mix, preload


@dataclass(frozen=True)
class Config:
    quick: bool
    events: int
    creators: int
    latency_s: float
    two_workers: bool
    keep: bool = False
    scale: int | None = None  # --scale: creators whose state a worker restores, per store
    stores: tuple[str, ...] = ("memory://", "rocksdb://")  # --scale's stores
    transitions_only: bool = False  # --transitions: only the transitions phase
    paced_only: bool = False  # --paced: only the floor and one worker, backlog and regimes
    profile: Path | None = None  # --profile DIR: py-spy of each paced phase, here

    @classmethod
    def make(cls, quick: bool, events: int | None = None, creators: int | None = None,
             latency_s: float | None = None, keep: bool = False,
             scale: int | None = None,
             stores: tuple[str, ...] = ("memory://", "rocksdb://"),
             transitions_only: bool = False, paced_only: bool = False,
             profile: Path | None = None) -> Config:  # fmt: skip
        return cls(
            quick=quick,
            events=events or (10_000 if quick else 50_000),
            creators=creators or (10_000 if quick else 100_000),
            latency_s=latency_s or (2.0 if quick else 10.0),
            two_workers=not quick,
            keep=keep,
            scale=scale,
            stores=stores,
            transitions_only=transitions_only,
            paced_only=paced_only,
            profile=profile,
        )


def rate_of(span: Span) -> float:
    """Events per second between the first and the last output record."""
    return (span.count - 1) / max(span.last_ms - span.first_ms, 1) * 1000


class Bench:
    def __init__(self, cfg: Config, say: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.say = say
        self.run = Run()
        self.logs = REPO_ROOT / ".livegate" / "bench" / self.run.run_id
        # The systems' Faust data (RocksDB tables) lives with the run's logs, and goes too.
        self.run.base_env["LIVEGATE_DATA_DIR"] = str(self.logs / "data")
        self.procs: list[Proc] = []
        self.result: dict[str, Any] = {}
        self.kafka = self.run.settings
        # The broker's process, when it runs here (its CPU is reported beside each phase's).
        port = int(self.kafka.kafka_bootstrap.split(",")[0].rpartition(":")[2])
        self.broker_pid = listener_pid(port)

    async def execute(self) -> dict[str, Any]:
        self.logs.mkdir(parents=True, exist_ok=True)
        ok = False
        try:
            if self.cfg.scale:
                await self._scale(self.cfg.scale)
            else:
                await self._phases()
            ok = True
        finally:
            for proc in self.procs:
                await proc.stop()
            if not self.cfg.keep:
                topics, keys = await self.run.cleanup()
                self.say(f"cleanup: deleted {topics} topics and {keys} Redis keys")
                if ok:
                    shutil.rmtree(self.logs, ignore_errors=True)
        return self.result

    # ---- phases -------------------------------------------------------------------------
    async def _scale(self, creators: int) -> None:
        self.say(f"bench {self.run.prefix} --scale: {creators:,} creators per store, "
                 f"kafka {self.kafka.kafka_bootstrap}")  # fmt: skip
        from pipeline.bench.scale import ScaleBench

        await mark_loaded(self.run.system("scale").settings)  # one Redis prefix per run
        bench = ScaleBench(self.run, creators, self.say, self._spawn, self.cfg.stores)
        self.result.update(run_id=self.run.run_id, started_at=int(time.time() * 1000),
                           scale=await bench.execute())  # fmt: skip

    async def _phases(self) -> None:
        cfg = self.cfg
        redis = self.run.settings.redis_url_redacted
        self.say(f"bench {self.run.prefix}: {cfg.creators:,} creators, {cfg.events:,} events "
                 f"backlog, kafka {self.kafka.kafka_bootstrap}, redis {redis}")  # fmt: skip
        workload = Workload(cfg.creators, self.run.run_id)
        backlog = workload.records(cfg.events)
        lg1 = self.run.system("lg1")
        loaded = await preload(lg1.settings, workload)
        await mark_loaded(lg1.settings)
        self.say(f"preloaded {loaded.certifications:,} certifications "
                 f"({loaded.physicians:,} physicians) in {loaded.seconds:.2f}s")  # fmt: skip
        options = worker_app_options(lg1.settings)
        self.result.update(
            run_id=self.run.run_id, quick=cfg.quick, started_at=int(time.time() * 1000),
            workload={"creators": cfg.creators, "events": cfg.events,
                      "partitions": lg1.settings.partitions, "mix": mix(backlog)},
            preload=asdict(loaded), faust_options=printable(options), systems={},
        )  # fmt: skip
        if cfg.transitions_only:
            await self._transitions(workload)
            return
        if not cfg.paced_only:
            await self._limit(backlog, options)
        await self._floor(workload, backlog)
        await self._livegate_one(lg1, workload, backlog)
        if cfg.two_workers and not cfg.paced_only:
            await self._livegate_two(backlog)
            await self._transitions(workload)
        self._ratios()

    async def _transitions(self, workload: Workload) -> None:
        from pipeline.bench.transitions import transitions

        self.result["transitions"] = await transitions(self, workload)

    async def _limit(self, backlog: list[InputRecord], options: dict[str, Any]) -> None:
        system = await self._prepared("limit", backlog)
        args = ["pipeline.bench.raw_passthrough", "--group", system.settings.app_id,
                "--output", system.output, "--options", json.dumps(client_options(options)),
                *(f"{k}={t}" for k, t in system.inputs.items())]  # fmt: skip
        proc = self._spawn("limit (raw aiokafka)", args, system)
        await self._backlog_figures("limit", system, proc, len(backlog))
        await proc.stop()

    async def _floor(self, workload: Workload, backlog: list[InputRecord]) -> None:
        system = await self._prepared("floor", backlog)
        args = ["pipeline.bench.faust_floor", "--app-id", system.settings.app_id,
                "--output", system.output, "--web-port", str(free_port()),
                *(f"{k}={t}" for k, t in system.inputs.items())]  # fmt: skip
        proc = self._spawn("floor (bare Faust)", args, system)
        figures = await self._backlog_figures("floor", system, proc, len(backlog))
        self.result.setdefault("paced", {})["floor"] = await regimes(
            self, system, proc, workload, figures["events_per_s"], "floor",
            profile=self.cfg.profile,
        )  # fmt: skip
        await proc.stop()

    async def _livegate_one(
        self, system: System, workload: Workload, backlog: list[InputRecord]
    ) -> None:
        await self.run.create_topics(system, everything=True)
        await produce(self.kafka, system.inputs, backlog)
        # The table is already marked loaded: a worker that finds it unloaded retries each
        # agent's batch with a backoff of up to 2 s, which would stagger its agents' start.
        # Start-up is not counted either way: the clock starts at the first decision.
        port = free_port()
        worker = self._worker("livegate worker", system, port)
        figures = await self._backlog_figures("livegate_1", system, worker, len(backlog))
        self.result.setdefault("paced", {})["livegate_1"] = await regimes(
            self, system, worker, workload, figures["events_per_s"], "livegate",
            port=port, profile=self.cfg.profile,
        )  # fmt: skip
        metrics = scrape(port)
        decided = metrics.get("livegate_events_decided_total", 0.0)
        trips = metrics.get("livegate_redis_round_trips_total", 0.0)
        figures["redis_round_trips_per_event"] = trips / decided if decided else None
        figures["redis_round_trips"] = trips
        figures["events_decided"] = decided
        figures["peak_rss_mb"] = worker.peak_rss_mb()
        self.say(f"  {trips:,.0f} Redis round trips for {decided:,.0f} events decided; "
                 f"worker peak RSS {figures['peak_rss_mb']:.0f} MB")  # fmt: skip
        await worker.stop()

    async def _livegate_two(self, backlog: list[InputRecord]) -> None:
        system = self.run.system("lg2")
        await self.run.create_topics(system, everything=True)
        workers = []
        for i in range(2):
            port = free_port()
            workers.append(self._worker(f"livegate worker {i + 1} of 2", system, port))
            await self._wait_ready(workers[-1], port)
        await self._wait_group_stable(system.settings.app_id, 2, workers)

        def check() -> None:
            for w in workers:
                w.check()

        watch = await OutputWatch(self.kafka, system.output).start()
        meter = self._meter({f"worker_{i + 1}": w.pid for i, w in enumerate(workers)})
        decided_before = [_decided(await _metrics_or_none(w.port)) for w in workers]
        try:
            self.say(f"livegate_2: producing {len(backlog):,} events to two ready workers …")
            await produce(self.kafka, system.inputs, backlog)
            produced_at = time.time() * 1000
            done_then = await watch.total()
            meter.start(done_then)
            done = await watch.wait_for(len(backlog), check, "livegate_2")
            meter.stop(done)
            span = await watch.span()
        finally:
            await watch.stop()
        # The backlog is produced while the workers already run; count only what they
        # decided after the producer finished (no longer sharing the CPU with it).
        rest = span.count - done_then
        if rest >= span.count // 4 and span.last_ms > produced_at:
            window = (span.last_ms - produced_at) / 1000
            method = "after the backlog was produced"
        else:
            rest, window = span.count - 1, max(span.last_ms - span.first_ms, 1) / 1000
            method = "first to last output"
        names = [f"worker_{i + 1}" for i in range(len(workers))]
        cpu = meter.figures(names)
        total_cpu = sum(meter.used(n) for n in names)
        per_worker = []
        for name, w, before in zip(names, workers, decided_before, strict=True):
            used = meter.used(name)
            per_worker.append({
                "events_decided": _decided(await _metrics_or_none(w.port)) - before,
                "cpu_seconds": used,
                "cpu_util": used / cpu["cpu_wall_s"] if cpu["cpu_wall_s"] else None,
                "cpu_share": used / total_cpu if total_cpu else None,
                "peak_rss_mb": w.peak_rss_mb(),
            })  # fmt: skip
        figures = {"events": span.count, "events_counted": rest, "seconds": window,
                   "events_per_s": rest / window, "method": method,
                   "peak_rss_mb": max(w.peak_rss_mb() for w in workers),
                   **cpu, "workers": per_worker}  # fmt: skip
        self.result["systems"]["livegate_2"] = figures
        shares = ", ".join(f"{p['cpu_util'] or 0:.0%} busy, {p['events_decided']:,.0f} events"
                           for p in per_worker)  # fmt: skip
        self.say(f"livegate_2: {figures['events_per_s']:,.0f} events/s ({method}), "
                 f"{_us(cpu['cpu_us_per_event'])} µs CPU per event; workers: {shares}")  # fmt: skip
        for w in workers:
            await w.stop()

    # ---- helpers --------------------------------------------------------------------------
    async def _prepared(self, name: str, backlog: list[InputRecord]) -> System:
        system = self.run.system(name)
        await self.run.create_topics(system)
        await produce(self.kafka, system.inputs, backlog)
        return system

    def _spawn(
        self, name: str, args: list[str], system: System, env: dict[str, str] | None = None
    ) -> Proc:
        log = self.logs / f"{system.name}-{len(self.procs)}.log"
        proc = Proc(name, args, {**system.env, **(env or {})}, log)
        self.procs.append(proc)
        return proc

    def _worker(self, name: str, system: System, port: int) -> Proc:
        args = ["pipeline.cli", "worker", "--web-port", str(port), "--loglevel", "warning"]
        proc = self._spawn(name, args, system)
        proc.port = port
        return proc

    async def _wait_ready(self, proc: Proc, port: int, timeout: float = 120) -> None:
        """Ready: the worker's own Faust sensor has seen a rebalance end (recovery included)
        and none is in progress. (Faust logs "Ready" only at info, where the worker also
        logs a line per decision.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc.check()
            if _settled(await _metrics_or_none(port)):
                return
            await asyncio.sleep(0.2)
        raise BenchError(f"{proc.name} was not ready within {timeout:.0f}s; "
                         f"its log ({proc.log}) ends:\n{proc.tail()}")  # fmt: skip

    async def _backlog_figures(
        self, key: str, system: System, proc: Proc, events: int
    ) -> dict[str, Any]:
        self.say(f"{key}: processing a backlog of {events:,} events …")
        meter = self._meter({"system": proc.pid})
        watch = await OutputWatch(self.kafka, system.output).start()
        try:
            # Start-up excluded: the CPU is sampled at every poll from the first output on.
            await watch.wait_for(
                events, proc.check, key, stall_s=90, progress=meter.sample, poll_s=0.05
            )
            span = await watch.span()
        finally:
            await watch.stop()
        rate = rate_of(span)
        figures: dict[str, Any] = {
            "events": span.count, "seconds": (span.last_ms - span.first_ms) / 1000,
            "events_per_s": rate, "method": "first to last output",
            "peak_rss_mb": proc.peak_rss_mb(),
            **meter.figures(["system"]),
        }  # fmt: skip
        self.result["systems"][key] = figures
        self.say(f"{key}: {rate:,.0f} events/s ({figures['seconds']:.2f}s), "
                 f"{_us(figures['cpu_us_per_event'])} µs CPU per event, broker "
                 f"{_us(figures['broker_cpu_us_per_event'])} µs")  # fmt: skip
        return figures

    def _meter(self, pids: dict[str, int]) -> CpuMeter:
        if self.broker_pid is not None:
            pids = {**pids, "broker": self.broker_pid}
        return CpuMeter(pids)

    async def _wait_group_stable(self, group: str, members: int, procs: list[Proc]) -> None:
        """The group has all its members and every worker has finished its rebalance."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.kafka.kafka_bootstrap, **kafka.client_kwargs(self.kafka)
        )
        await admin.start()
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline:
                for p in procs:
                    p.check()
                (reply,) = await admin.describe_consumer_groups([group])
                state, joined = reply.groups[0][2], reply.groups[0][5]
                if state == "Stable" and len(joined) == members:
                    views = [await _metrics_or_none(p.port) for p in procs]
                    if all(_settled(v) for v in views):
                        await asyncio.sleep(1.0)
                        return
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
        raise BenchError(f"consumer group {group} did not settle with {members} members in 90s")

    def _ratios(self) -> None:
        systems = self.result["systems"]
        floor = systems["floor"]["events_per_s"]
        limit = systems["limit"]["events_per_s"] if "limit" in systems else None
        ratios = {"floor_to_limit": floor / limit} if limit else {}
        for key in ("livegate_1", "livegate_2"):
            if key in systems:
                if limit:
                    ratios[f"{key}_to_limit"] = systems[key]["events_per_s"] / limit
                ratios[f"{key}_to_floor"] = systems[key]["events_per_s"] / floor
        self.result["ratios"] = ratios


async def _metrics_or_none(port: int) -> dict[str, float] | None:
    try:
        return await asyncio.to_thread(scrape, port)
    except OSError:
        return None


def _us(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"


def _decided(metrics: dict[str, float] | None) -> float:
    return (metrics or {}).get("livegate_events_decided_total", 0.0)


def _settled(metrics: dict[str, float] | None) -> bool:
    """A rebalance has ended (recovery included) and none is in progress."""
    return (
        metrics is not None
        and metrics.get("faust_rebalance_done_latency_count", 0) >= 1
        and metrics.get("faust_total_rebalances", 0) == 0
        and metrics.get("faust_total_rebalances_recovering", 0) == 0
    )
