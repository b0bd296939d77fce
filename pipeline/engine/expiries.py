"""Scheduled expiry checks: a qualification that a live stream relies on ends at valid_until.

The schedule is kept in a Faust table (creator -> pending checks), so it survives restarts
and moves with the partition. A timer finds the checks that are due and produces an
`expiry_due` event for each, keyed by creator, to an internal topic; the expiries agent
decides it like any other event, so replays see it too. Event ids are deterministic: a
check emitted twice (by two workers during a rebalance, or after a crash) is decided once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec

from pipeline.domain.expiries import Expiry

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[Expiry]).decode


class Table(Protocol):
    data: Any

    def __setitem__(self, key: bytes, value: bytes) -> None: ...
    def __delitem__(self, key: bytes) -> None: ...


def expiry_check_id(e: Expiry) -> str:
    """A valid event id (CONTRACT §2: `[A-Za-z0-9._:-]{1,128}`) for any stream id.

    A stream id may be any 1-256 characters (`room/1`, `直播间1`), so it is hashed, with the
    domain and time, rather than spelled out; domain and time stay readable in front.
    """
    digest = hashlib.sha256(f"{e.domain}\x1f{e.at_ms}\x1f{e.stream_id}".encode()).hexdigest()
    return f"expiry:{e.domain}:{e.at_ms}:{digest[:40]}"


def expiry_event(creator_id: str, e: Expiry) -> tuple[str, bytes]:
    event_id = expiry_check_id(e)
    value = {"event_id": event_id, "type": "expiry_due", "ts": e.at_ms,
             "creator_id": creator_id, "domain": e.domain, "stream_id": e.stream_id}  # fmt: skip
    return event_id, json.dumps(value).encode()


class ExpirySchedule:
    def __init__(self, table: Table) -> None:
        self.table = table

    def add(self, key: bytes, expiries: Iterable[Expiry]) -> None:
        raw = self.table.data.get(key)
        current = set(_decode(raw)) if raw else set()
        merged = current | set(expiries)
        if merged != current:
            self.table[key] = _encode(sorted(merged, key=lambda e: e.at_ms))

    def due(self, now_ms: int) -> list[tuple[bytes, Expiry]]:
        out = []
        for key, raw in list(self.table.data.items()):
            out.extend((key, e) for e in _decode(raw) if e.at_ms <= now_ms)
        return out

    def done(self, key: bytes, emitted: Iterable[Expiry]) -> None:
        raw = self.table.data.get(key)
        if not raw:
            return
        left = [e for e in _decode(raw) if e not in set(emitted)]
        if left:
            self.table[key] = _encode(left)
        else:
            del self.table[key]
