"""The engine floor: a bare Faust passthrough, written the fastest way Faust allows.

    python -m pipeline.bench.faust_floor --app-id ID --output TOPIC --web-port N
        KIND=TOPIC …

One agent per input topic (raw-bytes topics, as the worker's), each taking batches with
`take_events` (the worker's batch size and wait), decoding every record with the worker's
decoder and handing one record per event to `app.producer.send` without awaiting its
delivery (Faust flushes the producer before it commits). No state, no lookups, no sensor.
The Faust settings are the worker's own, from `pipeline.engine.faustconfig`, as the worker's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import faust

from pipeline.adapters.faust.fetching import use_adaptive_fetch
from pipeline.adapters.settings import Settings
from pipeline.bench.faustopts import worker_app_options
from pipeline.domain.errors import InvalidEvent
from pipeline.domain.events import decode_event, encode_event
from pipeline.engine.faustconfig import use_event_loop


def attach(app: faust.App, kind: str, topic: str, output: str, settings: Settings) -> None:
    channel = app.topic(
        topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    within = settings.batch_within_ms / 1000

    async def agent(stream: Any) -> None:
        send = app.producer.send
        async for batch in stream.take_events(settings.batch_max, within):
            for e in batch:
                m = e.message
                try:
                    event = decode_event(kind, m.key, m.value or b"")
                except InvalidEvent:
                    continue
                await send(output, m.key, encode_event(event), m.partition, None, None)

    agent.__name__ = f"floor_{kind}"
    app.agent(channel, name=f"floor_{kind}")(agent)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.bench.faust_floor")
    p.add_argument("--app-id", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--web-port", type=int, required=True)
    p.add_argument("inputs", nargs="+", metavar="KIND=TOPIC")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    options = {**worker_app_options(settings), "web_port": args.web_port}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    use_event_loop(settings)  # the worker's event loop, before the app binds one
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = faust.App(args.app_id, **options)
    for kind, _, topic in (i.partition("=") for i in args.inputs):
        attach(app, kind, topic, args.output, settings)
    use_adaptive_fetch(app, gather_ms=settings.fetch_gather_ms)  # the worker's consumer
    worker = faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False, console_port=0
    )
    worker.spinner = None  # its root-logger DEBUG level costs every debug call (see worker)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
