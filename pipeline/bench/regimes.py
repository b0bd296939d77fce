"""The paced regimes: what a worker mostly sees is a steady trickle, not a backlog.

For a running system (LiveGate's worker, or the bare-Faust floor) on its own topics:

1. a warm-up paced run (not counted), so the first figure is not a start's;
2. paced traffic at 200, 1,000 and min(5,000, half the system's measured maximum) events/s,
   each for the phase length: decision latency (produced → decided), CPU per event of the
   system's process (and the broker's) from /proc, and, for a worker with /metrics, the
   batches it decided (`livegate_batch_size_count`): CPU per batch and events per batch;
3. `live`: LIVE_EVENTS events produced as fast as one producer can while the system runs,
   CPU per event from the first send to the last output.

With a profile directory, py-spy records the system's process during each phase (idle
frames excluded) as collapsed stacks, `<system>-<phase>.txt`: `scripts/profile_summary.py`
(or any flame-graph tool) reads them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipeline.bench import paced
from pipeline.bench.kafkaio import OutputWatch, produce
from pipeline.bench.procs import CpuMeter, Proc, scrape, thread_cpu_seconds
from pipeline.bench.workload import Workload

LIVE_EVENTS = 20_000
PACED_RATES = (200.0, 1000.0)
TOP_RATE = 5000.0


def rates_for(max_rate: float) -> list[float]:
    """200, 1,000 and min(5,000, half the measured maximum) events/s, each once."""
    top = min(TOP_RATE, max_rate / 2)
    return sorted({*PACED_RATES, round(top)})


def key_of(rate: float) -> str:
    return f"at_{int(rate)}_per_s"


class Profiler:
    """py-spy on a process for one phase, when asked for and installed."""

    def __init__(self, directory: Path | None, pid: int, name: str) -> None:
        self.directory = directory
        self.pid = pid
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, phase: str) -> None:
        # The venv's py-spy (a dev dependency), else one on the PATH.
        spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.defpath}")
        spy = spy or shutil.which("py-spy")
        if self.directory is None or spy is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.directory / f"{self.name}-{phase}.txt"
        self.proc = subprocess.Popen(
            [spy, "record", "--pid", str(self.pid), "--format", "raw", "--rate", "200",
             "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(2)  # SIGINT: py-spy writes what it has
        for _ in range(100):
            if proc.poll() is not None:
                return
            await asyncio.sleep(0.1)
        proc.kill()


async def regimes(
    bench: Any, system: Any, proc: Proc, workload: Workload, max_rate: float,
    name: str, port: int | None = None, profile: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run the paced phases and the live phase against a running system; their figures."""
    watch = await OutputWatch(bench.kafka, system.output).start()
    spy = Profiler(profile, proc.pid, name)
    out: dict[str, Any] = {}
    try:
        await _phase(bench, system, proc, watch, workload, 1000.0, "warm-up", None, None)
        for rate in rates_for(max_rate):
            out[key_of(rate)] = await _phase(bench, system, proc, watch, workload, rate,
                                             f"at {rate:,.0f} events/s", port, spy)  # fmt: skip
        out["live"] = await _live(bench, system, proc, watch, workload, port, spy)
    finally:
        await spy.stop()
        await watch.stop()
    return out


def _batches(port: int | None) -> float | None:
    if port is None:
        return None
    return scrape(port).get("livegate_batch_size_count")


def _per_batch(figures: dict[str, Any], before: float | None, after: float | None) -> None:
    if before is None or after is None or after <= before:
        return
    batches = after - before
    figures["batches"] = batches
    figures["events_per_batch"] = figures["events"] / batches
    if figures.get("cpu_seconds"):
        figures["cpu_us_per_batch"] = figures["cpu_seconds"] / batches * 1e6


async def _phase(
    bench: Any, system: Any, proc: Proc, watch: OutputWatch, workload: Workload, rate: float,
    label: str, port: int | None, spy: Profiler | None,
) -> dict[str, Any]:  # fmt: skip
    records = workload.records(max(100, int(rate * bench.cfg.latency_s)))
    bench.say(f"{spy.name if spy else 'warm-up'}: {label} ({rate:,.0f} events/s for "
              f"{bench.cfg.latency_s:g}s) …")  # fmt: skip
    await asyncio.sleep(0.5)
    before = await asyncio.to_thread(_batches, port)
    meter = bench._meter({"system": proc.pid})
    if spy is not None:
        spy.start(key_of(rate))
    meter.start()
    threads = thread_cpu_seconds(proc.pid)
    m = await paced.measure(bench.kafka, system.inputs, watch, records, rate, proc.check, label)
    meter.stop(m.events)
    threads = _by_thread(threads, thread_cpu_seconds(proc.pid), m.events)
    if spy is not None:
        await spy.stop()
    figures = {"label": label, **asdict(m), **meter.figures(["system"]), **threads}
    _per_batch(figures, before, await asyncio.to_thread(_batches, port))
    if spy is not None:
        batch = ""
        if "batches" in figures:
            batch = (f", {_us(figures.get('cpu_us_per_batch'))} µs per batch of "
                     f"{figures['events_per_batch']:.1f}")  # fmt: skip
        bench.say(f"  p50 {m.p50_ms:.0f} ms, p99 {m.p99_ms:.0f} ms, max {m.max_ms:.0f} ms; "
                  f"{_us(figures.get('cpu_us_per_event'))} µs CPU per event{batch}")  # fmt: skip
    return figures


async def _live(
    bench: Any, system: Any, proc: Proc, watch: OutputWatch, workload: Workload,
    port: int | None, spy: Profiler,
) -> dict[str, Any]:  # fmt: skip
    n = LIVE_EVENTS if not bench.cfg.quick else LIVE_EVENTS // 4
    records = workload.records(n)
    bench.say(f"{spy.name}: {n:,} events produced while it runs …")
    await asyncio.sleep(0.5)
    done_before = await watch.total()
    batches_before = await asyncio.to_thread(_batches, port)
    meter: CpuMeter = bench._meter({"system": proc.pid})
    spy.start("live")
    meter.start(done_before)
    threads = thread_cpu_seconds(proc.pid)
    await produce(bench.kafka, system.inputs, records)
    done = await watch.wait_for(done_before + n, proc.check, f"{spy.name} live")
    meter.stop(done)
    threads = _by_thread(threads, thread_cpu_seconds(proc.pid), done - done_before)
    await spy.stop()
    figures: dict[str, Any] = {"label": f"{n:,} produced while it runs", "events": n,
                               **meter.figures(["system"]), **threads}  # fmt: skip
    _per_batch(figures, batches_before, await asyncio.to_thread(_batches, port))
    bench.say(f"  {_us(figures.get('cpu_us_per_event'))} µs CPU per event")
    return figures


def _by_thread(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, Any]:
    """The phase's CPU by group of the worker's threads (procs.THREAD_GROUPS), µs per event."""
    if events <= 0:
        return {}
    return {"threads_us_per_event": {
        group: max(0.0, after[group] - before[group]) / events * 1e6 for group in after
    }}  # fmt: skip


def _us(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"
