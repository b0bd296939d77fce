"""`livegate tail`: follow actions, decisions or dead letters, one readable line each."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.adapters import kafka
from pipeline.adapters.kafka import TopicMissing
from pipeline.adapters.settings import Settings
from pipeline.adapters.textsafety import printable, printable_json
from pipeline.adapters.times import HELP as TIME_HELP
from pipeline.adapters.times import format_ms, parse_time
from pipeline.domain.errors import LiveGateError
from pipeline.domain.notices import LANGUAGES
from pipeline.ops.wording import check_ident


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tail",
        help="follow enforcement actions (or decisions, dead letters, shadow decisions)",
        description="Follow a topic, one readable line per record: actions, decisions, dlq "
        "(dead letters) or shadow (the candidate policy's decisions). Topic names come from "
        "LIVEGATE_TOPIC_*.",
    )
    p.add_argument("--topic", choices=list(TOPICS), default="actions", help="what to follow")
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning",
        action="store_true",
        help="from the oldest record kept (default: only new records)",
    )
    start.add_argument(
        "--since",
        default=None,
        metavar="TIME",
        help="from the records written at or after TIME (the records' Kafka "
        "timestamps, i.e. when they were written; default: only new records). "
        f"TIME: {TIME_HELP}",
    )
    p.add_argument("--creator", default=None, metavar="ID",
                   help="only this creator's records (default: all)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="raw JSON lines")
    p.add_argument(
        "--lang", choices=LANGUAGES, default=None,
        help="actions: show the creator's notice in this language instead of the auditor's "
        "reason (CONTRACT §11; default: the reason)",
    )  # fmt: skip
    p.set_defaults(handler=_tail)


def action_line(a: dict[str, Any], lang: str | None = None) -> str:
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
    said = a.get("reason", "")
    notice = a.get("notice")
    if lang is not None:
        said = notice.get(lang, "(no notice)") if isinstance(notice, dict) else "(no notice)"
    platform = a.get("platform")
    who = f"{a.get('creator_id', '?')}" + (f"@{platform}" if platform else "")
    return (f"{when}  {what:<21} {who:<18} {subject.strip():<30} "
            f"[{a.get('rule_id')}] {said}")  # fmt: skip


def decision_line(d: dict[str, Any]) -> str:
    when = format_ms(d.get("decided_at"))[11:19]
    return (f"{when}  {d.get('outcome', '?').upper():<8} {d.get('creator_id', '?'):<18} "
            f"{d.get('event_type', '?'):<22} {d.get('event_id')} "
            f"rules={','.join(d.get('rule_ids', [])) or '-'}")  # fmt: skip


def dlq_line(d: dict[str, Any]) -> str:
    return (f"{format_ms(d.get('received_at'))[11:19]}  {d.get('error', '?'):<15} "
            f"{d.get('topic')}[{d.get('partition')}]@{d.get('offset')} key={d.get('key')}: "
            f"{d.get('detail')}")  # fmt: skip


def shadow_line(d: dict[str, Any]) -> str:
    when = format_ms(d.get("decided_at"))[11:19]
    if d.get("mode") == "shadow":  # v3: rules in shadow (mode, rollout, exemption), §10
        would = [
            f"{s.get('rule_id')}:" + ",".join(str(a.get("action")) for a in s.get("actions", []))
            for s in d.get("shadow") or [] if isinstance(s, dict)
        ]  # fmt: skip
        return (f"{when}  SHADOW RULES {d.get('creator_id', '?'):<18} "
                f"{d.get('event_type', '?'):<22} {d.get('event_id')} "
                f"would={' '.join(would) or '-'} (decided {d.get('outcome', '?')})")  # fmt: skip
    active = d.get("active") or {}
    verdict = "agrees" if d.get("agrees") else f"differs (active: {active.get('outcome', '?')})"
    return (f"{when}  SHADOW {d.get('outcome', '?').upper():<8} {d.get('creator_id', '?'):<18} "
            f"{d.get('event_type', '?'):<22} {d.get('event_id')} "
            f"rules={','.join(d.get('rule_ids', [])) or '-'} {verdict}")  # fmt: skip


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "actions": action_line, "decisions": decision_line, "dlq": dlq_line, "shadow": shadow_line,
}  # fmt: skip
TOPICS = tuple(FORMATS)


def creator_of(which: str, record: Any, body: dict[str, Any] | None) -> str | None:
    """The creator a record is about: its JSON's creator_id, else (a dead letter) its key."""
    if body is not None and isinstance(body.get("creator_id"), str):
        return str(body["creator_id"])
    if which == "dlq" and body is not None and isinstance(body.get("key"), str):
        return str(body["key"])
    key = record.key
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else None


def _body(value: bytes | None) -> dict[str, Any] | None:
    try:
        body = json.loads(value or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def follow(
    settings: Settings, which: str, from_beginning: bool, raw: bool = False,
    out: Callable[[str], None] | None = None, since: int | None = None,
    creator: str | None = None, lang: str | None = None,
) -> None:  # fmt: skip
    # Each line as it comes, also into a pipe (`livegate tail | grep …`), where print buffers.
    out = out or functools.partial(print, flush=True)
    topic = {"actions": settings.topics.actions, "decisions": settings.topics.decisions,
             "dlq": settings.topics.dlq, "shadow": settings.topics.shadow}[which]  # fmt: skip
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
        **kafka.client_kwargs(settings),
    )  # fmt: skip
    try:
        await consumer.start()  # inside: a refused start still closes the consumer
        numbers = await kafka.partitions(settings, topic)
        if not numbers:
            raise TopicMissing(
                f"topic {topic} not found at {settings.kafka_bootstrap}: is a worker running "
                "(it creates the topics), or run `livegate topics create`"
            )
        tps = [TopicPartition(topic, p) for p in numbers]
        consumer.assign(tps)
        if since is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, since))
            for tp in tps:
                hit = found.get(tp)
                if hit is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, hit.offset)
        elif from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        async for record in consumer:
            body = _body(record.value)
            if creator is not None and creator_of(which, record, body) != creator:
                continue
            if raw:
                out(printable_json(record.value.decode("utf-8", "replace"), layout=False))
                continue
            try:
                if body is None:
                    raise ValueError
                line = action_line(body, lang) if which == "actions" else FORMATS[which](body)
                out(printable(line))
            except (ValueError, AttributeError, TypeError):
                out(f"(unreadable record at offset {record.offset})")
    finally:
        await consumer.stop()


def _tail(args: argparse.Namespace) -> int:
    since = parse_time(args.since) if args.since else None
    if args.creator is not None:
        problem = check_ident(args.creator)
        if problem:
            raise LiveGateError(problem)
    settings = Settings.from_env()

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        asyncio.run(follow(settings, args.topic, args.from_beginning, args.json, out,
                           since=since, creator=args.creator, lang=args.lang))  # fmt: skip
    except KeyboardInterrupt:
        print(file=sys.stderr)
    return 0
