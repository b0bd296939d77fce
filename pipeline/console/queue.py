"""The console's view of the compacted `enforcement.queue` topic (CONTRACT §9): the latest
item per key (`creator_id:kind:id`, CONTRACT §12; a record under an item's old key, its
bare id, is the same item), open items oldest first with their age and a late mark past
`review.sla`.

Pure: records are applied as they are read, time comes in as an argument.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from pipeline.adapters import metrics
from pipeline.domain.queue import QueueItem, queue_key

KINDS = ("review", "appeal")
CLOSED_KEPT = 2_000  # closed items kept for the "recently closed" list and their pages
PER_PAGE = 100
STANDINGS_KEPT = 100_000  # creators' restrictions snapshots held (the most recently changed)
# A time the pages can show: 1970 up to the end of year 9999, in ms (CONTRACT §1: ints).
MAX_MS = 253_402_300_799_999
_FIELDS = frozenset(QueueItem.__struct_fields__)
_IDENT = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # CONTRACT §2


@dataclass(frozen=True, slots=True)
class Entry:
    """A record of enforcement.queue as the console holds it: the item, decoded into the
    type LiveGate writes it from (`pipeline.domain.queue.QueueItem`), and the fields beyond
    that type's, shown as they are on the item page."""

    item: QueueItem
    more: dict[str, Any] | None = None
    source: str = ""  # the record key it was read under (an old one: its bare id)

    @property
    def key(self) -> str:
        return self.item.key

    def as_dict(self) -> dict[str, Any]:
        """The item as the pages read it: the JSON fields, the unknown ones included."""
        out: dict[str, Any] = msgspec.to_builtins(self.item)
        return {**self.more, **out} if self.more else out


def decode_record(value: bytes) -> Entry:
    """A queue item, or ValueError naming why not (`invalid_json`, `schema`): typed as the
    writer's, a kind and status of the contract, ids to its pattern, times the pages can
    show. A record of another shape is never held half-read."""
    try:
        raw = msgspec.json.decode(value)
    except msgspec.DecodeError:
        raise ValueError("invalid_json") from None
    if not isinstance(raw, dict):
        raise ValueError("schema")
    try:
        item = msgspec.convert({k: v for k, v in raw.items() if k in _FIELDS}, QueueItem)
    except msgspec.ValidationError:
        raise ValueError("schema") from None
    times_ok = all(t is None or 0 <= t <= MAX_MS for t in (item.opened_at, item.closed_at))
    if (
        item.kind not in KINDS or item.status not in ("open", "closed") or not times_ok
        or not _IDENT.fullmatch(item.creator_id) or not _IDENT.fullmatch(item.item_id)
        or (item.item_id != (item.review_id if item.kind == "review" else item.appeal_id))
    ):  # fmt: skip
        raise ValueError("schema")
    more = {k: v for k, v in raw.items() if k not in _FIELDS}
    return Entry(item, more or None)


@dataclass(frozen=True)
class Row:
    item: dict[str, Any]
    age_ms: int
    late: bool

    @property
    def item_id(self) -> str:
        return item_id(self.item)

    @property
    def key(self) -> str:
        """The item's page: its queue key."""
        return item_key(self.item)


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int  # open items matching the filter
    late: int  # of which late
    number: int
    pages: int


def item_id(item: dict[str, Any]) -> str:
    return str(item.get("review_id") or item.get("appeal_id") or "")


def item_key(item: dict[str, Any]) -> str:
    return queue_key(str(item.get("creator_id")), str(item.get("kind")), item_id(item))


def is_open(item: dict[str, Any]) -> bool:
    return item.get("status") == "open"


def _late(e: Entry, now_ms: int, sla_ms: int) -> bool:
    """An open review item older than review.sla (§7: the SLA is the reviews')."""
    i = e.item
    return i.status == "open" and i.kind == "review" and now_ms - i.opened_at > sla_ms


class QueueView:
    """Open items, all of them (the work to do), and the latest CLOSED_KEPT closed ones:
    memory follows the open queue, not the topic's history."""

    def __init__(self, closed_kept: int = CLOSED_KEPT) -> None:
        self.open: dict[str, Entry] = {}
        self.closed: OrderedDict[str, Entry] = OrderedDict()
        self.closed_kept = closed_kept
        self.records = 0
        self.unreadable = 0
        self.aliases: dict[str, str] = {}  # old record key (a bare id) -> the item's key

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the topic: the latest per key wins, a tombstone removes it, a
        record that is not a queue item is skipped and counted."""
        self.records += 1
        source = key.decode("utf-8", "replace") if key else None
        if value is None:
            if source is not None:
                name = self.aliases.pop(source, source)
                for held in (self.open, self.closed):
                    if (entry := held.get(name)) is not None and entry.source == source:
                        del held[name]
            return
        try:
            record = decode_record(value)
        except ValueError as exc:
            self.unreadable += 1
            metrics.CONSOLE_QUEUE_UNREADABLE.labels(str(exc)).inc()
            return
        name = record.key
        source = source or name
        if source != name:
            self.aliases[source] = name
            if name in self.open or name in self.closed:  # the new key's record is newer
                current = self.open.get(name) or self.closed.get(name)
                if current is not None and current.source == name:
                    return
        record = replace(record, source=source)
        self.open.pop(name, None)
        self.closed.pop(name, None)
        if record.item.status == "open":
            self.open[name] = record
            return
        self.closed[name] = record
        while len(self.closed) > self.closed_kept:
            self.closed.popitem(last=False)

    def get(self, name: str) -> dict[str, Any] | None:
        """The item of a queue key; of a bare id (an old link) only when one item has it."""
        record = self.open.get(name) or self.closed.get(name)
        if record is None:
            found = [e for held in (self.open, self.closed) for e in held.values()
                     if e.item.item_id == name]  # fmt: skip
            record = found[0] if len(found) == 1 else None
        return record.as_dict() if record is not None else None

    def open_rows(
        self, now_ms: int, sla_ms: int, kind: str | None = None, domain: str | None = None,
        page: int = 1, per_page: int = PER_PAGE,
    ) -> Page:  # fmt: skip
        """One page of the open items, oldest first (ties by id), filtered by kind and
        domain; only that page is sorted and turned into rows."""
        found = [
            e for e in self.open.values()
            if (kind is None or e.item.kind == kind) and (domain is None or e.item.domain == domain)
        ]  # fmt: skip
        pages = max(1, -(-len(found) // per_page))
        page = min(max(1, page), pages)
        first = heapq.nsmallest(page * per_page, found, key=lambda e: (e.item.opened_at, e.key))
        rows = [
            Row(e.as_dict(), max(0, now_ms - e.item.opened_at), _late(e, now_ms, sla_ms))
            for e in first[(page - 1) * per_page :]
        ]
        late = sum(_late(r, now_ms, sla_ms) for r in found)
        return Page(rows, len(found), late, page, pages)

    def closed_recently(self, limit: int = 10) -> list[dict[str, Any]]:
        newest = heapq.nlargest(limit, self.closed.values(), key=lambda e: e.item.closed_at or 0)
        return [e.as_dict() for e in newest]

    def of_creator(self, creator_id: str) -> list[dict[str, Any]]:
        mine = [e for e in (*self.open.values(), *self.closed.values())
                if e.item.creator_id == creator_id]  # fmt: skip
        mine.sort(key=lambda e: (e.item.status != "open", -e.item.opened_at))
        return [e.as_dict() for e in mine]


class Standings:
    """The latest `enforcement.restrictions` snapshot of the STANDINGS_KEPT creators whose
    standing changed most recently (compacted topic), kept as the record's bytes (a few
    hundred each) and decoded when a page asks. A creator beyond that is shown from the
    worker's view, as one with no snapshot yet."""

    def __init__(self, kept: int = STANDINGS_KEPT) -> None:
        self.by_creator: OrderedDict[str, bytes] = OrderedDict()
        self.kept = kept

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if not key:
            return  # the writer keys every snapshot by creator_id (CONTRACT §9)
        name = key.decode("utf-8", "replace")
        self.by_creator.pop(name, None)
        if value is not None:
            self.by_creator[name] = bytes(value)
            while len(self.by_creator) > self.kept:
                self.by_creator.popitem(last=False)

    def get(self, creator_id: str) -> dict[str, Any] | None:
        raw = self.by_creator.get(creator_id)
        try:
            snapshot = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return snapshot if isinstance(snapshot, dict) else None


def format_age(ms: int) -> str:
    s = ms // 1000
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h}h"
