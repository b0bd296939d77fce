"""TIME values on the command line (CONTRACT §8): YYYY-MM-DD, RFC 3339 with offset, or ms."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from pipeline.domain.errors import LiveGateError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class TimeFormatError(LiveGateError):
    pass


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_time(text: str) -> int:
    """Milliseconds since the epoch, UTC. A date-time without an offset is refused."""
    raw = text.strip()
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        if _DATE.match(raw):
            return int(datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
        parsed = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise TimeFormatError(
            f"{text!r} is not a time: use YYYY-MM-DD, RFC 3339 with an offset "
            "(2027-01-31T08:00:00+08:00 or …Z), or integer milliseconds"
        ) from None
    if parsed.tzinfo is None:
        raise TimeFormatError(f"{text!r} has no UTC offset: add Z or +hh:mm")
    return round(parsed.timestamp() * 1000)


def format_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
