"""The bench's transitions phase: paced latency at the first traffic after a worker starts
and after a rebalance, beside the warm figure, on a log that already holds decisions.

1. history: a backlog (by default two minutes' worth at 1,000 events/s) decided by a worker,
   so the decision log and the state hold what a worker in production finds at a restart;
2. that worker stops; a new one starts on the same data directory and web port (RocksDB
   intact, as a restarted pod) and, once ready, gets paced traffic: `first_after_start`;
3. the same again on the now warm worker: `warm`;
4. a second worker joins (a rebalance; each keeps or gets half the partitions), and once the
   group is stable: `first_after_rebalance`.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from pipeline.bench import paced
from pipeline.bench.kafkaio import OutputWatch, produce
from pipeline.bench.procs import free_port
from pipeline.bench.workload import Workload

HISTORY_RATE = 1000  # events/s: the history is this many seconds' worth of it
HISTORY_S = 120


async def transitions(bench: Any, workload: Workload, rate: float = 1000.0) -> dict[str, Any]:
    """Run the phase with `bench` (pipeline.bench.runner.Bench); the figures."""
    system = bench.run.system("lgt")
    await bench.run.create_topics(system, everything=True)
    history = workload.records(HISTORY_RATE * HISTORY_S if not bench.cfg.quick else 20_000)
    await produce(bench.kafka, system.inputs, history)
    port = free_port()
    first = bench._worker("livegate worker (history)", system, port)
    await bench._backlog_figures("history", system, first, len(history))
    await first.stop()
    bench.say(f"transitions: {len(history):,} decisions in the log; restarting the worker …")
    await asyncio.sleep(1.0)  # the port and the RocksDB lock are released
    worker = bench._worker("livegate worker (restarted)", system, port)
    await bench._wait_ready(worker, port)
    await asyncio.sleep(2.0)
    watch = await OutputWatch(bench.kafka, system.output).start()
    figures: dict[str, Any] = {"history_events": len(history), "rate": rate}
    second = None
    try:
        figures["first_after_start"] = await _paced(
            bench, system, watch, workload, rate, worker, "first paced run after a start"
        )
        figures["warm"] = await _paced(bench, system, watch, workload, rate, worker,
                                       "the next paced run (warm)")  # fmt: skip
        port2 = free_port()
        second = bench._worker("livegate worker (joining)", system, port2)
        await bench._wait_ready(second, port2)
        await bench._wait_group_stable(system.settings.app_id, 2, [worker, second])
        figures["first_after_rebalance"] = await _paced(
            bench, system, watch, workload, rate, worker, "first paced run after a rebalance",
            also=second,
        )  # fmt: skip
    finally:
        await watch.stop()
    for proc in (worker, second):
        if proc is not None:
            await proc.stop()
    return figures


async def _paced(
    bench: Any, system: Any, watch: OutputWatch, workload: Workload, rate: float, worker: Any,
    label: str, also: Any = None,
) -> dict[str, Any]:  # fmt: skip
    records = workload.records(max(100, int(rate * bench.cfg.latency_s)))
    bench.say(f"transitions: {label} ({rate:,.0f} events/s for {bench.cfg.latency_s:g}s) …")
    pids = {"system": worker.pid} if also is None else {"system": worker.pid, "other": also.pid}
    meter = bench._meter(pids)
    meter.start()

    def check() -> None:
        worker.check()
        if also is not None:
            also.check()

    m = await paced.measure(bench.kafka, system.inputs, watch, records, rate, check, label)
    meter.stop(m.events)
    out = {"label": label, **asdict(m), **meter.figures(list(pids))}
    bench.say(f"  p50 {m.p50_ms:.0f} ms, p99 {m.p99_ms:.0f} ms, max {m.max_ms:.0f} ms over "
              f"{m.events:,} events")  # fmt: skip
    return out
