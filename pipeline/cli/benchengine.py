"""`livegate bench-engine`: the processor's own CPU cost per event, without a broker."""

from __future__ import annotations

import argparse
import asyncio
import json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench-engine",
        help="micro-benchmark of the engine alone (processor with fake send, state, lookup)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--events", type=int, default=50_000, help="events to decide")
    p.add_argument("--batch", type=int, default=500, help="events per batch")
    p.add_argument("--creators", type=int, default=5_000, help="distinct creators")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import logging

    from pipeline.bench.engine_harness import micro_benchmark

    logging.getLogger("livegate").setLevel(logging.ERROR)
    figures = asyncio.run(micro_benchmark(args.events, args.batch, args.creators))
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"engine alone: {figures['events']:,} events, "
            f"{figures['cpu_us_per_event']:.1f} µs CPU per event, "
            f"{figures['events_per_s']:,.0f} events/s, {figures['records_sent']:,} records sent"
        )
    return 0
