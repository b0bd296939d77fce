"""`livegate tail`: follow actions, decisions or dead letters, one readable line each."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import format_ms


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tail", help="follow enforcement actions (or decisions, dead letters)")
    p.add_argument("--topic", choices=["actions", "decisions", "dlq"], default="actions")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--json", action="store_true", help="raw JSON lines")
    p.set_defaults(handler=_tail)


def action_line(a: dict[str, Any]) -> str:
    what = a.get("action", "?").replace("_", " ").upper()
    if a.get("action") == "deduct_credit":
        subject = f"-{a.get('points')} → {a.get('credit_after')}"
    elif a.get("action") == "restore_credit":
        subject = f"+{a.get('points')} → {a.get('credit_after')}"
    elif a.get("link_id"):
        subject = f"link {a['link_id']}"
    elif a.get("surfaces"):
        subject = "surfaces " + ",".join(a["surfaces"])
    elif a.get("stream_id"):
        subject = f"stream {a['stream_id']}"
    else:
        subject = ""
    if "duration_s" in a:
        d = a["duration_s"]
        if a.get("while_qualified"):
            subject += f" while qualified ({a['while_qualified']})"
        elif d is None:
            subject += " permanent"
        else:
            subject += f" for {d // 3600}h"
            if isinstance(a.get("until"), int):
                subject += f" to {format_ms(a['until'])[:16]}"
    if a.get("lifts"):
        # A lifting action: which earlier actions it ends (short ids, as in the log).
        subject += " ending " + ",".join(x[:8] for x in a["lifts"])
    when = format_ms(a.get("decided_at"))[11:19]
    return (f"{when}  {what:<21} {a.get('creator_id', '?'):<18} {subject.strip():<30} "
            f"[{a.get('rule_id')}] {a.get('reason', '')}")  # fmt: skip


def decision_line(d: dict[str, Any]) -> str:
    when = format_ms(d.get("decided_at"))[11:19]
    return (f"{when}  {d.get('outcome', '?').upper():<8} {d.get('creator_id', '?'):<18} "
            f"{d.get('event_type', '?'):<22} {d.get('event_id')} "
            f"rules={','.join(d.get('rule_ids', [])) or '-'}")  # fmt: skip


def dlq_line(d: dict[str, Any]) -> str:
    return (f"{format_ms(d.get('received_at'))[11:19]}  {d.get('error', '?'):<15} "
            f"{d.get('topic')}[{d.get('partition')}]@{d.get('offset')} key={d.get('key')}: "
            f"{d.get('detail')}")  # fmt: skip


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "actions": action_line, "decisions": decision_line, "dlq": dlq_line,
}  # fmt: skip


async def follow(
    settings: Settings, which: str, from_beginning: bool, raw: bool = False,
    out: Callable[[str], None] = print,
) -> None:  # fmt: skip
    topic = {"actions": settings.topics.actions, "decisions": settings.topics.decisions,
             "dlq": settings.topics.dlq}[which]  # fmt: skip
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **kafka.client_kwargs(settings),
    )  # fmt: skip
    try:
        await consumer.start()  # inside: a refused start still closes the consumer
        async for record in consumer:
            if raw:
                out(record.value.decode("utf-8", "replace"))
                continue
            try:
                out(FORMATS[which](json.loads(record.value)))
            except (ValueError, AttributeError, TypeError):
                out(f"(unreadable record at offset {record.offset})")
    finally:
        await consumer.stop()


def _tail(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        asyncio.run(follow(settings, args.topic, args.from_beginning, args.json, out))
    except KeyboardInterrupt:
        print(file=sys.stderr)
    return 0
