"""`livegate simulate`: realistic traffic of every input kind, for demos and load: streams,
links, reports, certification revocations, and (reading the actions that come out) review
verdicts and appeals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import now_ms
from pipeline.ops.registry import Registry, build_change, grant_fields, revoke_fields
from pipeline.ops.simulate import People, Traffic

YEAR_MS = 365 * 86_400_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="produce realistic traffic (streams, links, reports)")
    p.add_argument("--creators", type=int, default=200)
    p.add_argument("--rate", type=float, default=50.0, help="events per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds; 0 = until Ctrl-C")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--run", default=None, help="id prefix for creators and events (default: a random one)"
    )
    p.add_argument("--revoke-every", type=float, default=30.0,
                   help="revoke a live certified creator every N seconds (0: never)")  # fmt: skip
    p.add_argument("--review-delay", type=float, default=20.0,
                   help="seconds before a flag gets its verdict, an enforcement its appeal, "
                        "an appeal its verdict (about; 0: no reviews or appeals)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    if args.rate <= 0 or args.creators <= 0:
        print("livegate: error: --rate and --creators must be positive", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    run = args.run or uuid.uuid4().hex[:6]
    traffic = Traffic(args.creators, run, args.seed)
    people = (
        People(run, args.seed, int(args.review_delay * 1000), key=settings.verdict_key)
        if args.review_delay > 0
        else None
    )
    asyncio.run(_run(settings, traffic, args, people))
    return 0


async def _watch_actions(settings: Settings, people: People) -> None:
    """Show the simulated people each action as it comes out (flags, enforcements)."""
    consumer = AIOKafkaConsumer(
        settings.topics.actions, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
        auto_offset_reset="latest", **kafka.client_kwargs(settings),
    )  # fmt: skip
    try:
        await consumer.start()
        async for record in consumer:
            try:
                action = json.loads(record.value or b"{}")
            except ValueError:
                continue
            if isinstance(action, dict):
                people.observe(action, now_ms())
    finally:
        await consumer.stop()


async def _grant_all(settings: Settings, traffic: Traffic) -> int:
    now = now_ms()
    changes = [
        build_change(grant_fields(g.creator_id, g.domain, f"LIC-{g.creator_id}", "sim-registry",
                                  now - 86_400_000, now + YEAR_MS, g.profession, now))
        for g in traffic.grants()
    ]  # fmt: skip
    if changes:
        await Registry(settings).apply_and_publish(changes)
    return len(changes)


async def _run(
    settings: Settings, traffic: Traffic, args: argparse.Namespace, people: People | None
) -> None:
    granted = await _grant_all(settings, traffic)
    if not args.quiet:
        print(f"simulating {len(traffic.creators)} creators ({granted} certified) "
              f"at {args.rate:g} events/s", file=sys.stderr)  # fmt: skip
    topics = {"live": settings.topics.live, "commerce": settings.topics.commerce,
              "reports": settings.topics.reports, "reviews": settings.topics.reviews}  # fmt: skip
    producer = kafka.producer(settings, linger_ms=5)
    await producer.start()
    watch = asyncio.ensure_future(_watch_actions(settings, people)) if people else None
    sent, started = 0, time.monotonic()
    last_report = last_revoke = started
    try:
        while args.duration <= 0 or time.monotonic() - started < args.duration:
            elapsed = time.monotonic() - started
            behind = int(elapsed * args.rate) - sent
            if behind <= 0:
                await asyncio.sleep(min(0.05, 1 / args.rate))
                continue
            now = now_ms()
            for kind, creator, event in people.due(now) if people else ():
                value = json.dumps(event, ensure_ascii=False).encode()
                await producer.send(topics[kind], value, key=creator.encode())
                sent += 1
            for _ in range(min(behind, 5000)):
                for kind, creator, event in traffic.next_events(now):
                    value = json.dumps(event, ensure_ascii=False).encode()
                    await producer.send(topics[kind], value, key=creator.encode())
                    sent += 1
            tick = time.monotonic()
            if args.revoke_every > 0 and tick - last_revoke >= args.revoke_every:
                last_revoke = tick
                await _revoke_one(settings, traffic)
            if not args.quiet and tick - last_report >= 1:
                last_report = tick
                rate = sent / max(tick - started, 1e-9)
                print(f"\rsent {sent} events ({rate:,.0f}/s) in {tick - started:,.0f}s",
                      end="", file=sys.stderr, flush=True)  # fmt: skip
        await producer.flush()
    finally:
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch
        await producer.stop()
        if not args.quiet:
            print(f"\rsent {sent} events in {time.monotonic() - started:,.1f}s", file=sys.stderr)


async def _revoke_one(settings: Settings, traffic: Traffic) -> None:
    creator = traffic.revocable()
    if creator is None or creator.domain is None:
        return
    creator.certified = False
    fields = revoke_fields(creator.creator_id, creator.domain, "simulated revocation", now_ms())
    await Registry(settings).apply_and_publish([build_change(fields)])
