"""`livegate breaker release`: re-send the events whose decisions the circuit breaker held.

A held decision applied nothing (no action, no state change) and its event was not
remembered as decided, so re-sending the event to its topic gets it a fresh decision under
the current certification table and state. Run it once the cause is understood.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from pipeline.adapters import kafka
from pipeline.adapters.kafka import read_topic
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import parse_time


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("breaker", help="the enforcement circuit breaker's held decisions")
    bsub = p.add_subparsers(dest="breaker_command", metavar="ACTION", required=True)
    r = bsub.add_parser("release", help="re-send held events for a fresh decision")
    r.add_argument("--from", dest="start", required=True, help="TIME (decided_at, inclusive)")
    r.add_argument("--to", dest="end", required=True, help="TIME (decided_at, exclusive)")
    r.add_argument("--dry-run", action="store_true", help="list them, send nothing")
    r.set_defaults(handler=_release)


async def held_events(settings: Settings, start: int, end: int) -> list[dict[str, object]]:
    partitions = await read_topic(settings, settings.topics.decisions)
    held: dict[str, dict[str, object]] = {}
    for rows in partitions.values():
        for row in rows:
            d = json.loads(row.value or b"{}")
            if d.get("held") and start <= d.get("decided_at", -1) < end:
                held[d["event_id"]] = d
    return list(held.values())


async def _send(settings: Settings, decisions: list[dict[str, object]]) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for d in decisions:
            source = d["source"]
            assert isinstance(source, dict)
            value = json.dumps(d["event"], ensure_ascii=False).encode()
            await producer.send(source["topic"], value, key=str(d["creator_id"]).encode())
        await producer.flush()
    finally:
        await producer.stop()


def _release(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    start, end = parse_time(args.start), parse_time(args.end)
    decisions = asyncio.run(held_events(settings, start, end))
    for d in decisions:
        print(f"held: {d['event_id']} ({d['event_type']}, {d['creator_id']}) "
              f"rules={','.join(d.get('rule_ids') or [])}")  # type: ignore[arg-type]  # fmt: skip
    if args.dry_run or not decisions:
        print(f"{len(decisions)} held decision(s){'; nothing sent' if args.dry_run else ''}")
        return 0
    asyncio.run(_send(settings, decisions))
    print(f"re-sent {len(decisions)} held event(s) for a fresh decision")
    return 0
