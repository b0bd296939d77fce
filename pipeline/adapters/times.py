"""TIME values on the command line (CONTRACT §8): YYYY-MM-DD, RFC 3339 with offset, or ms;
also `now` and times relative to it (`now-24h`, `now+1h`, `-7d`; units s m h d w)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from pipeline.domain.errors import LiveGateError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE = re.compile(r"^(?:now)?\s*([+-])\s*(\d+)\s*([smhdw])$", re.IGNORECASE)
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
# Integer seconds since the epoch for any date from 2001-09-09 to 5138: below 1e11 they
# would read as milliseconds in 1970, which nobody means.
_SECONDS_LIKE = range(1_000_000_000, 100_000_000_000)
HELP = (
    "YYYY-MM-DD (midnight UTC), RFC 3339 with an offset (2027-01-31T08:00:00+08:00 or …Z), "
    "integer milliseconds, now, or relative to now: now-24h, now+1h, -7d (units s m h d w)"
)


class TimeFormatError(LiveGateError):
    pass


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_time(text: str, now: int | None = None) -> int:
    """Milliseconds since the epoch, UTC. A date-time without an offset is refused, and so
    are integer seconds where milliseconds are meant."""
    raw = text.strip()
    if raw.lstrip("-").isdigit():
        value = int(raw)
        if value in _SECONDS_LIKE:
            raise TimeFormatError(
                f"{text!r} looks like seconds; use milliseconds {value * 1000} "
                f"({format_ms(value * 1000)})"
            )
        return value
    if raw.lower() == "now":
        return now_ms() if now is None else now
    relative = _RELATIVE.match(raw)
    if relative:
        sign, amount, unit = relative.groups()
        offset = int(amount) * _UNIT_MS[unit.lower()]
        base = now_ms() if now is None else now
        return base - offset if sign == "-" else base + offset
    try:
        if _DATE.match(raw):
            return int(datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
        parsed = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise TimeFormatError(f"{text!r} is not a time: use {HELP}") from None
    if parsed.tzinfo is None:
        raise TimeFormatError(f"{text!r} has no UTC offset: add Z or +hh:mm")
    return round(parsed.timestamp() * 1000)


def format_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
