"""`livegate breaker release`: re-send the events whose decisions the circuit breaker held.

A held decision applied nothing (no action, no state change) and its event was not
remembered as decided, so re-sending the event to its topic gets it a fresh decision under
the current certification table and state. Run it once the cause is understood.

Held decisions are keyed by (creator_id, event_id): an event id is unique per creator only.
A re-sent event lands at the end of its topic, after whatever came since, so two are not
re-sent: one whose event was decided again since (a release already ran), and a held
`stream_started` / `stream_updated` whose stream has a later `stream_ended` on its topic
(re-sent, it would reopen a stream that has ended). Both are listed as skipped.

Only LiveGate's records count (CONTRACT §12): a record whose hash and seal verify (or, in a
partition with no sealed record before it, an unsealed one of before v3). Anything else
on the topic, whoever wrote it, is counted and re-sends nothing; so is a held record whose
event does not belong on the topic it names (an event type of another topic, another
creator). The log is streamed, never held whole: what is kept is the held decisions of the
period.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.adapters import kafka
from pipeline.adapters.kafka import expiries_topic_name, read_topic, stream_topic
from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.adapters.textsafety import printable
from pipeline.adapters.times import HELP as TIME_HELP
from pipeline.adapters.times import format_ms, parse_time
from pipeline.domain.audit import record_status
from pipeline.domain.errors import LiveGateError
from pipeline.domain.events import KIND_OF_TYPE
from pipeline.domain.signing import SEALED, UNSEALED, Keys

REOPENING = ("stream_started", "stream_updated")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("breaker", help="the enforcement circuit breaker's held decisions")
    bsub = p.add_subparsers(dest="breaker_command", metavar="ACTION", required=True)
    r = bsub.add_parser(
        "release",
        help="re-send held events for a fresh decision",
        description="Re-send to their input topics the events whose decisions the circuit "
        "breaker held, chosen by the decisions' decided_at: the worker's clock when it "
        "decided, not the event's time. Lists them and asks before sending (--yes to skip "
        "the question). Skips, and lists, an event decided again since and a held "
        "stream_started/stream_updated whose stream has ended since. " + f"TIME: {TIME_HELP}.",
    )
    r.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="TIME",
        help="held decisions with decided_at at or after TIME (the worker's clock)",
    )
    r.add_argument(
        "--to", dest="end", required=True, metavar="TIME", help="... and before TIME (exclusive)"
    )
    r.add_argument("--dry-run", action="store_true", help="list them, send nothing")
    r.add_argument(
        "--yes",
        action="store_true",
        help="send without asking (needed when stdin is not a terminal)",
    )
    r.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress lines on stderr")  # fmt: skip
    r.set_defaults(handler=_release)
    seed = bsub.add_parser(
        "seed",
        help="pre-seed the fleet's breaker history with a normal rate",
        description="Write a history whose normal is N enforcing actions per breaker window "
        "(LIVEGATE_BREAKER_WINDOW_S) over the baseline before now, so that a new deployment "
        "(no history: the floor alone applies) opens its breaker at the factor times N. "
        "Replaces the last ten minutes of history; workers read it within a second.",
    )
    seed.add_argument("--normal", type=int, required=True, metavar="N",
                      help="enforcing actions per window, fleet-wide")  # fmt: skip
    seed.set_defaults(handler=_seed)


class ReleaseError(LiveGateError):
    pass


@dataclass
class Selection:
    send: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    foreign: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset)


class Selector:
    """Held decisions of [start, end) by decided_at, fed the log a fetch at a time."""

    def __init__(self, start: int, end: int, keys: Keys, topics: dict[str, str]) -> None:
        self.start, self.end, self.keys, self.topics = start, end, keys, topics
        self.held: dict[tuple[str, str], dict[str, Any]] = {}
        self.later: set[tuple[str, str]] = set()
        self.sealed_seen: set[int] = set()
        self.out = Selection()

    def feed(self, rec: Record) -> None:
        d = _json(rec)
        if d is None or not self._livegates(rec.partition, d):
            self.out.foreign.append((rec.partition, rec.offset))
            return
        key = (str(d.get("creator_id")), str(d.get("event_id")))
        if d.get("held"):
            at = d.get("decided_at")
            if isinstance(at, int) and self.start <= at < self.end:
                self.held[key] = d
                self.later.discard(key)
        elif key in self.held:
            self.later.add(key)

    def _livegates(self, partition: int, d: dict[str, Any]) -> bool:
        digest, status = record_status(d, self.keys)
        if digest is None:
            return False
        if status == SEALED:
            self.sealed_seen.add(partition)
            return True
        return status == UNSEALED and partition not in self.sealed_seen  # pre-v3

    def result(self) -> Selection:
        out = self.out
        for key, d in self.held.items():
            why = (
                "decided again since (released before?)"
                if key in self.later
                else _misfit(d, self.topics)
            )
            if why:
                out.skipped.append((d, why))
            else:
                out.send.append(d)
        return out


def _misfit(d: dict[str, Any], topics: dict[str, str]) -> str | None:
    """Why the held record's event does not belong where it would be re-sent, or None."""
    event = d.get("event")
    source = d.get("source")
    if not isinstance(event, dict) or not isinstance(source, dict):
        return "the record has no event or source to re-send"
    etype = event.get("type")
    if etype != d.get("event_type") or event.get("creator_id") != d.get("creator_id"):
        return "the event's type or creator differs from the record's"
    expected = topics.get(KIND_OF_TYPE.get(str(etype), ""))
    if expected is None or source.get("topic") != expected:
        return f"a {str(etype)[:40]} event does not come from topic {str(source.get('topic'))[:80]}"
    return None


def source_topics(settings: Settings) -> dict[str, str]:
    """Event kind -> the topic its events come from (CONTRACT §1)."""
    t = settings.topics
    return {"live": t.live, "commerce": t.commerce, "reports": t.reports, "certs": t.certs,
            "reviews": t.reviews, "expiries": expiries_topic_name(settings)}  # fmt: skip


def _json(rec: Record) -> dict[str, Any] | None:
    try:
        value = json.loads(rec.value or b"null")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def select(
    decisions: Iterable[Record], start: int, end: int, keys: Keys, topics: dict[str, str]
) -> Selection:
    """The held decisions of [start, end) by decided_at, one per (creator_id, event_id),
    minus those decided again (not held) later in the log; LiveGate's records only."""
    selector = Selector(start, end, keys, topics)
    for rec in decisions:
        selector.feed(rec)
    return selector.result()


def ended_streams(live: Iterable[Record]) -> dict[tuple[str, str], list[tuple[int, int, int]]]:
    """(creator_id, stream_id) -> [(partition, offset, ts)] of every stream_ended."""
    out: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for rec in live:
        e = _json(rec)
        if e and e.get("type") == "stream_ended":
            key = (str(e.get("creator_id")), str(e.get("stream_id")))
            ts = e["ts"] if isinstance(e.get("ts"), int) else 0
            out.setdefault(key, []).append((rec.partition, rec.offset, ts))
    return out


def skip_reopening(selection: Selection, ended: dict[tuple[str, str], list[tuple[int, int, int]]]
                   ) -> Selection:  # fmt: skip
    """Move a held stream start/update whose stream ended after it to `skipped`."""
    out = Selection(skipped=list(selection.skipped), foreign=selection.foreign)
    for d in selection.send:
        event = d.get("event") or {}
        source = d.get("source") or {}
        if d.get("event_type") in REOPENING:
            ends = ended.get((str(d.get("creator_id")), str(event.get("stream_id"))), [])
            ts = event["ts"] if isinstance(event.get("ts"), int) else 0
            after = [
                e for e in ends
                if (e[0] == source.get("partition") and e[1] > source.get("offset", -1))
                or (e[0] != source.get("partition") and e[2] >= ts)
            ]  # fmt: skip
            if after:
                out.skipped.append((d, f"stream {event.get('stream_id')} has ended since"))
                continue
        out.send.append(d)
    return out


async def _scan(settings: Settings, start: int, end: int, say: Callable[[str], None]) -> Selection:
    def progress(name: str) -> Callable[[int, int], None]:
        return lambda done, total: say(f"reading {name}: {done}/{total} records")

    selector = Selector(start, end, settings.seal_keys, source_topics(settings))
    async for batch in stream_topic(settings, settings.topics.decisions, progress("decisions")):
        for rec in batch:
            selector.feed(rec)
    selection = selector.result()
    topics = {str((d.get("source") or {}).get("topic")) for d in selection.send
              if d.get("event_type") in REOPENING}  # fmt: skip
    ended: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for topic in sorted(topics):
        live = await read_topic(settings, topic, progress(topic), required=False)
        for key, found in ended_streams(r for rows in live.values() for r in rows).items():
            ended.setdefault(key, []).extend(found)
    return skip_reopening(selection, ended)


def cap_releases(decisions: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The daily-cap places to release (CONTRACT §10): for each decision held by a cap, its
    held rules under its platform and `default` (a cap counts unknown platforms there)."""
    from pipeline.domain.lifecycle import utc_day

    out: list[tuple[str, str, str, str]] = []
    for d in decisions:
        event = d.get("event") or {}
        if d.get("held") != "daily_cap" or not isinstance(event.get("ts"), int):
            continue
        day, eid = utc_day(event["ts"]), str(d.get("event_id"))
        platforms = sorted({str(event.get("platform") or "default"), "default"})
        for rule in sorted({str(r) for r in d.get("rule_ids") or []}):
            out += [(rule, platform, day, eid) for platform in platforms]
    return out


async def _release_caps(settings: Settings, decisions: list[dict[str, Any]]) -> int:
    from pipeline.adapters.capstore import CapStore
    from pipeline.adapters.certstore import connect

    items = cap_releases(decisions)
    if not items:
        return 0
    client = connect(settings)
    try:
        return await CapStore(client, settings).release(items)
    finally:
        await client.aclose()


async def _send(settings: Settings, decisions: list[dict[str, Any]]) -> None:
    # A cap-held event re-sent would find its place in the day's count again, past the cap:
    # released, its place becomes 0 first.
    await _release_caps(settings, decisions)
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for d in decisions:
            source = d["source"]
            value = json.dumps(d["event"], ensure_ascii=False).encode()
            await producer.send(source["topic"], value, key=str(d["creator_id"]).encode())
        await producer.flush()
    finally:
        await producer.stop()


def _line(d: dict[str, Any]) -> str:
    """A held decision read from the decision log (stored text: printed escaped)."""
    rules = ",".join(map(str, d.get("rule_ids") or [])) or "-"
    return printable(f"{d.get('event_id')} ({d.get('event_type')}, {d.get('creator_id')}) "
                     f"decided {format_ms(d.get('decided_at'))} rules={rules}")  # fmt: skip


def _release(args: argparse.Namespace) -> int:
    start, end = parse_time(args.start), parse_time(args.end)
    if end <= start:
        raise ReleaseError(
            f"--to {args.end} ({format_ms(end)}) is not after --from {args.start} "
            f"({format_ms(start)})"
        )
    settings = Settings.from_env()
    tty = sys.stderr.isatty()

    def say(line: str) -> None:
        if args.progress:
            print(f"\r{line}" if tty else line, end="" if tty else "\n", file=sys.stderr,
                  flush=True)  # fmt: skip

    selection = asyncio.run(_scan(settings, start, end, say))
    if args.progress and tty:
        print(file=sys.stderr)
    for d in selection.send:
        print(f"held: {_line(d)}")
    for d, why in selection.skipped:
        print(f"skipped: {_line(d)}: {why}")
    if selection.foreign:
        shown = ", ".join(f"[{p}]@{o}" for p, o in selection.foreign[:10])
        more = " …" if len(selection.foreign) > 10 else ""
        print(f"foreign: {len(selection.foreign)} record(s) on {settings.topics.decisions} not "
              f"sealed by LiveGate, ignored: {shown}{more}")  # fmt: skip
    n = len(selection.send)
    summary = f"{n} held decision(s) to re-send, {len(selection.skipped)} skipped"
    if args.dry_run or not n:
        print(f"{summary}; nothing sent")
        return 0
    print(summary)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ReleaseError(
                f"not re-sending {n} held event(s) without a confirmation: stdin is not a "
                "terminal; run again with --yes"
            )
        answer = input(f"re-send {n} held event(s) to their topics for a fresh decision? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing sent")
            return 1
    asyncio.run(_send(settings, selection.send))
    print(f"re-sent {n} held event(s) for a fresh decision")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from pipeline.adapters.breakerstore import BreakerHistory
    from pipeline.adapters.certstore import connect
    from pipeline.adapters.times import now_ms
    from pipeline.engine.breaker import BreakerConfig

    if args.normal < 0:
        raise ReleaseError(f"--normal {args.normal}: expected 0 or more enforcing actions")
    settings = Settings.from_env()
    baseline = int(BreakerConfig().baseline_s)

    async def run() -> int:
        client = connect(settings)
        try:
            history = BreakerHistory(client, settings)
            return await history.seed(args.normal, settings.breaker_window_s, baseline,
                                      now_ms() // 1000)  # fmt: skip
        finally:
            await client.aclose()

    seconds = asyncio.run(run())
    threshold = max(settings.breaker_floor, settings.breaker_factor * args.normal)
    print(f"seeded {seconds} s of history for app {settings.app_id}: a normal of "
          f"{args.normal} enforcing actions per {settings.breaker_window_s} s; the breaker "
          f"opens above {threshold} per window, fleet-wide")  # fmt: skip
    return 0
