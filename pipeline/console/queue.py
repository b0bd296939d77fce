"""The console's view of the compacted `enforcement.queue` topic (CONTRACT §9): the latest
item per id, open items oldest first with their age and a late mark past `review.sla`.

Pure: records are applied as they are read, time comes in as an argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KINDS = ("review", "appeal")


@dataclass(frozen=True)
class Row:
    item: dict[str, Any]
    age_ms: int
    late: bool

    @property
    def item_id(self) -> str:
        return item_id(self.item)


def item_id(item: dict[str, Any]) -> str:
    return str(item.get("review_id") or item.get("appeal_id") or "")


def is_open(item: dict[str, Any]) -> bool:
    return item.get("status") == "open"


def _opened(item: dict[str, Any]) -> int:
    opened = item.get("opened_at")
    return opened if isinstance(opened, int) else 0


def is_late(item: dict[str, Any], now_ms: int, sla_ms: int) -> bool:
    """An open review item older than review.sla (§7: the SLA is the reviews')."""
    return is_open(item) and item.get("kind") == "review" and now_ms - _opened(item) > sla_ms


class QueueView:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.records = 0
        self.unreadable = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the topic: the latest per key wins, a tombstone removes it."""
        self.records += 1
        name = key.decode("utf-8", "replace") if key else None
        if value is None:
            if name is not None:
                self.items.pop(name, None)
            return
        try:
            item = json.loads(value)
        except ValueError:
            self.unreadable += 1
            return
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            self.unreadable += 1
            return
        name = name or item_id(item)
        if name:
            self.items[name] = item

    def get(self, name: str) -> dict[str, Any] | None:
        return self.items.get(name)

    def open_rows(
        self, now_ms: int, sla_ms: int, kind: str | None = None, domain: str | None = None
    ) -> list[Row]:
        """Open items, oldest first (ties by id), filtered by kind and domain."""
        found = [
            item
            for item in self.items.values()
            if is_open(item)
            and (kind is None or item.get("kind") == kind)
            and (domain is None or item.get("domain") == domain)
        ]
        found.sort(key=lambda item: (_opened(item), item_id(item)))
        return [Row(i, max(0, now_ms - _opened(i)), is_late(i, now_ms, sla_ms)) for i in found]

    def closed_recently(self, limit: int = 10) -> list[dict[str, Any]]:
        closed = [i for i in self.items.values() if not is_open(i)]
        closed.sort(key=lambda i: i.get("closed_at") or 0, reverse=True)
        return closed[:limit]

    def of_creator(self, creator_id: str) -> list[dict[str, Any]]:
        mine = [i for i in self.items.values() if i.get("creator_id") == creator_id]
        mine.sort(key=lambda i: (not is_open(i), -_opened(i)))
        return mine


class Standings:
    """The latest `enforcement.restrictions` snapshot per creator (compacted topic)."""

    def __init__(self) -> None:
        self.by_creator: dict[str, dict[str, Any]] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        name = key.decode("utf-8", "replace") if key else None
        if value is None:
            if name is not None:
                self.by_creator.pop(name, None)
            return
        try:
            snapshot = json.loads(value)
        except ValueError:
            return
        if isinstance(snapshot, dict):
            name = name or str(snapshot.get("creator_id") or "")
            if name:
                self.by_creator[name] = snapshot

    def get(self, creator_id: str) -> dict[str, Any] | None:
        return self.by_creator.get(creator_id)


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
