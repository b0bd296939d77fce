"""The limit: a raw aiokafka consume → msgspec decode → produce-one-record passthrough.

    python -m pipeline.bench.raw_passthrough --group G --output TOPIC KIND=TOPIC …

It decodes every record with the worker's own decoder (`decode_event`) and produces the
event, re-encoded, to the output topic on the input's partition, with the worker's producer
settings (acks, linger, batch size) and fetch size. Deliveries are not awaited one by one;
every second the producer is flushed and then the offsets are committed (at-least-once, as
the worker). No state, no lookups. Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.domain.errors import InvalidEvent
from pipeline.domain.events import decode_event, encode_event


async def run(settings: Settings, group: str, inputs: dict[str, str], output: str,
              options: dict[str, Any]) -> None:  # fmt: skip
    consumer = AIOKafkaConsumer(
        *inputs, bootstrap_servers=settings.kafka_bootstrap, group_id=group,
        **kafka.client_kwargs(settings),
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=int(options.get("broker_max_poll_records") or 1000),
    )  # fmt: skip
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka.client_kwargs(settings),
        acks=_acks(options.get("producer_acks", -1)),
        linger_ms=int(float(options.get("producer_linger", 0.002)) * 1000),
        max_batch_size=int(options.get("producer_max_batch_size", 256 * 1024)),
    )  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await producer.start()
    await consumer.start()
    print("raw passthrough: consuming", ", ".join(inputs), file=sys.stderr, flush=True)
    bad, last_commit = 0, time.monotonic()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            for tp, records in batches.items():
                kind = inputs[tp.topic]
                for r in records:
                    try:
                        event = decode_event(kind, r.key, r.value or b"")
                    except InvalidEvent:
                        bad += 1
                        continue
                    await producer.send(output, encode_event(event), r.key, tp.partition)
            if time.monotonic() - last_commit >= 1.0:
                await producer.flush()
                await consumer.commit()
                last_commit = time.monotonic()
        await producer.flush()
        await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    if bad:
        print(f"raw passthrough: {bad} records did not decode", file=sys.stderr)


def _acks(value: Any) -> int | str:
    return "all" if value in (-1, "all") else int(value)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.bench.raw_passthrough")
    p.add_argument("--group", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--options", default="{}", help="the worker's Faust settings, as JSON")
    p.add_argument("inputs", nargs="+", metavar="KIND=TOPIC")
    args = p.parse_args(argv)
    inputs = {topic: kind for kind, _, topic in (i.partition("=") for i in args.inputs)}
    asyncio.run(run(Settings.from_env(), args.group, inputs, args.output,
                    json.loads(args.options)))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
