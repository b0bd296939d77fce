"""Decision latency under a paced load: evenly spaced sends at a fixed rate, then, for every
event, the decision record's broker timestamp minus the input record's (matched by
`event_id`): from the moment the event was produced to the moment its decision was."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.adapters.settings import Settings
from pipeline.bench.kafkaio import BenchError, OutputWatch, input_producer
from pipeline.bench.workload import InputRecord


@dataclass(frozen=True)
class Latency:
    rate: float  # events/s asked for
    achieved_rate: float  # events/s the producer kept up
    events: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    # p99 of the events sent in each second of the run, in order: where in the run a tail sits
    p99_by_second: tuple[float, ...] = ()


def percentile(sorted_values: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[rank - 1])


async def send_paced(
    settings: Settings, topics: dict[str, str], records: Sequence[InputRecord], rate: float
) -> tuple[dict[str, int], float]:
    """Send `records` evenly spaced at `rate`/s; event_id -> input timestamp, seconds taken."""
    # No linger: the input's timestamp is taken when it is handed to the client, so any
    # wait in the client would count as LiveGate's latency.
    producer = input_producer(settings, linger_ms=0)
    await producer.start()
    loop = asyncio.get_running_loop()
    futures = []
    try:
        for topic in set(topics.values()):  # warm, as a platform's producer is: the first
            await producer.partitions_for(topic)  # send of a topic waits for its metadata
        started = loop.time()
        sent = 0
        while sent < len(records):
            due = min(len(records), int((loop.time() - started) * rate) + 1)
            while sent < due:
                r = records[sent]
                futures.append(await producer.send(topics[r.kind], r.value, key=r.key))
                sent += 1
            delay = started + sent / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        took = loop.time() - started
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {r.event_id: int(m.timestamp) for r, m in zip(records, metas, strict=True)}, took


async def measure(
    settings: Settings, topics: dict[str, str], watch: OutputWatch, records: Sequence[InputRecord],
    rate: float, check: Callable[[], None], what: str,
) -> Latency:  # fmt: skip
    since = await watch.ends()
    before = sum(since.values())
    sent_at, took = await send_paced(settings, topics, records, rate)
    await watch.wait_for(before + len(records), check, what)
    decided_at = await watch.read_event_times(since)
    latencies = sorted(decided_at[e] - t for e, t in sent_at.items() if e in decided_at)
    start = min(sent_at.values(), default=0)
    seconds: dict[int, list[int]] = {}
    for e, t in sent_at.items():
        if e in decided_at:
            seconds.setdefault((t - start) // 1000, []).append(decided_at[e] - t)
    if len(latencies) < len(records):
        raise BenchError(f"{what}: {len(records) - len(latencies)} events had no decision")
    return Latency(
        rate=rate, achieved_rate=len(records) / took if took > 0 else rate,
        events=len(latencies), p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99), max_ms=float(latencies[-1]),
        p99_by_second=tuple(percentile(sorted(v), 0.99) for _, v in sorted(seconds.items())),
    )  # fmt: skip
