"""`livegate bench`: LiveGate's throughput and latency beside its limit and engine floor."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pipeline.adapters.settings import STORES
    from pipeline.bench.runner import Config

    p = sub.add_parser(
        "bench",
        help="measure throughput and latency (limit, engine floor, LiveGate)",
        description="Preloads a certification table, produces a realistic backlog and measures, "
        "each in its own process on its own topics: a raw aiokafka passthrough (the limit), a "
        "bare Faust passthrough (the engine floor), LiveGate with one and two workers, and "
        "LiveGate's decision latency at 500, 1,000 and 2,000 events/s and at 50% and 90% of its "
        "throughput, with each system's and the broker's CPU per event (from /proc). "
        "Exits non-zero only on errors, never on slowness.",
    )
    p.add_argument(
        "--quick", action="store_true",
        help="CI size: 10k events and creators, short latency phases, one worker",
    )  # fmt: skip
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the figures as JSON (default: not written)",
    )
    full, quick = Config.make(False), Config.make(True)
    p.add_argument(
        "--events",
        type=int,
        default=None,
        help=f"backlog size (default: {full.events:,}; {quick.events:,} with --quick)",
    )
    p.add_argument(
        "--creators",
        type=int,
        default=None,
        help=f"creators (default: {full.creators:,}; {quick.creators:,} with --quick)",
    )
    p.add_argument("--latency-seconds", type=float, default=None,
                   help=f"length of each paced latency phase (default: {full.latency_s:g}; "
                   f"{quick.latency_s:g} with --quick)")  # fmt: skip
    p.add_argument("--scale", nargs="?", type=int, const=1_000_000, default=None,
                   metavar="CREATORS",
                   help="instead: restart a worker owning CREATORS creators' state "
                   "(default 1000000), for each store (memory://, rocksdb://)")  # fmt: skip
    p.add_argument("--transitions", action="store_true",
                   help="only the transitions phase: paced latency at the first traffic after "
                   "a worker restart and after a second worker joins, beside the warm figure, "
                   "on a log holding two minutes of decisions at 1,000 events/s")  # fmt: skip
    p.add_argument("--paced", action="store_true",
                   help="only the paced regimes: the engine floor and one LiveGate worker, "
                   "each on the backlog and then at paced 200, 1,000 and min(5,000, half its "
                   "maximum) events/s and with events produced while it runs")  # fmt: skip
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="record each paced phase with py-spy (idle frames excluded) as "
                   "collapsed stacks in DIR, one file per system and phase "
                   "(default: no profile)")  # fmt: skip
    p.add_argument("--store", action="append", choices=STORES, default=None,
                   help="with --scale: only this store (repeatable; default both)")  # fmt: skip
    p.add_argument(
        "--bootstrap",
        default=None,
        help="Kafka bootstrap servers (default: LIVEGATE_KAFKA_BOOTSTRAP)",
    )
    p.add_argument("--redis-url", default=None, help="Redis URL (default: LIVEGATE_REDIS_URL)")
    p.add_argument("--keep", action="store_true",
                   help="keep the run's topics, Redis keys and logs (debugging)")  # fmt: skip
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    for name in ("events", "creators", "latency_seconds", "scale"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            print(f"livegate: error: --{name.replace('_', '-')} must be positive", file=sys.stderr)
            return 2
    # Children (workers, passthroughs) read the connection settings from the environment.
    if args.bootstrap:
        os.environ["LIVEGATE_KAFKA_BOOTSTRAP"] = args.bootstrap
    if args.redis_url:
        os.environ["LIVEGATE_REDIS_URL"] = args.redis_url
    # Producing right after creating a topic meets a broker still electing its leaders and
    # metadata still without the topic; the client retries, and logs each retry.
    logging.getLogger("aiokafka.producer.sender").setLevel(logging.ERROR)
    logging.getLogger("aiokafka.cluster").setLevel(logging.CRITICAL)
    from pipeline.adapters.settings import STORES, Settings
    from pipeline.bench.report import table
    from pipeline.cli.errors import require_services

    require_services(Settings.from_env())
    from pipeline.bench.runner import Bench, Config

    cfg = Config.make(args.quick, args.events, args.creators, args.latency_seconds, args.keep,
                      args.scale, tuple(args.store or STORES), args.transitions,
                      args.paced, args.profile)  # fmt: skip

    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {line}", file=sys.stderr, flush=True)

    # A SIGTERM cleans up like Ctrl-C: the run's processes, topics and keys go.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    result: dict[str, Any] = asyncio.run(Bench(cfg, say).execute())
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"figures written to {args.json}", file=sys.stderr)
    return 0
