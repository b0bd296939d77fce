"""A rule's lifecycle fields (CONTRACT §10): mode, rollout, expiry and daily cap, and the one
pure function that says how a rule acts for one creator at one event time.

`rule_mode` reads only the rule, the creator id, the event time and the creator's exemptions:
a replay of the same event by the same policy version gets the same mode.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec

from pipeline.domain.yamlcheck import Path, Validator, kind_of

Mode = Literal["enforce", "shadow", "off"]
MODES: Final[tuple[Mode, ...]] = ("enforce", "shadow", "off")
LIFECYCLE_KEYS: Final = ("mode", "rollout", "expires_at", "daily_cap")
ROLLOUT_KEYS: Final = ("percent", "salt")
MAX_DAILY_CAP: Final = 1_000_000
DAY_MS: Final = 86_400_000


class Lifecycle(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    mode: Mode = "enforce"
    rollout_percent: int | None = None  # None: no rollout (every creator as `mode`)
    rollout_salt: str = ""
    expires_at: int | None = None  # ms; events at or after it: off
    daily_cap: int | None = None  # enforcing decisions per platform per UTC day


ALWAYS: Final = Lifecycle()


def bucket(salt: str, creator_id: str) -> int:
    """The creator's rollout bucket, 0..99: first 8 hex digits of SHA-256(salt:creator_id)."""
    digest = hashlib.sha256(f"{salt}:{creator_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100


def rule_mode(
    life: Lifecycle, rule_id: str, creator_id: str, ts: int, exempt: Mapping[str | None, int]
) -> Mode:
    """How the rule acts for this creator's event at `ts`.

    `exempt` maps a rule id (or None, every rule) to the latest `until` of the creator's
    exemptions covering it: an exemption in force at `ts` makes an enforcing rule shadow."""
    if life.mode == "off" or (life.expires_at is not None and ts >= life.expires_at):
        return "off"
    if life.mode == "shadow":
        return "shadow"
    if life.rollout_percent is not None and bucket(life.rollout_salt, creator_id) >= (
        life.rollout_percent
    ):
        return "shadow"
    if exempt and (exempt.get(rule_id, -1) > ts or exempt.get(None, -1) > ts):
        return "shadow"
    return "enforce"


def utc_day(ts: int) -> str:
    """The UTC day of an event time, as YYYYMMDD (the daily cap's counting day)."""
    return dt.datetime.fromtimestamp(ts // 1000, dt.UTC).strftime("%Y%m%d")


# --- loading ---------------------------------------------------------------------------------


def time_ms(v: Validator, value: Any, path: Path) -> int:
    """A TIME in a policy file: ms since the epoch, or an ISO 8601 time with a zone (YAML
    reads an unquoted one as a timestamp; a naive one is taken as UTC)."""
    if isinstance(value, bool):
        v.fail(path, f"expected a time, got {kind_of(value)}")
    if isinstance(value, int):
        return v.integer(value, path, lo=0)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            v.fail(path, f"expected a time (ISO 8601 or ms since the epoch), got {value!r}")
    if not isinstance(value, dt.datetime):
        v.fail(path, f"expected a time, got {kind_of(value)}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def load_lifecycle(v: Validator, r: Mapping[str, Any], path: Path) -> Lifecycle:
    """The lifecycle keys of one rule block (all optional)."""
    if not any(k in r for k in LIFECYCLE_KEYS):
        return ALWAYS
    mode: Mode = "enforce"
    if "mode" in r:
        raw = r["mode"]
        # `mode: off` written bare is YAML's false: the contract takes it as off.
        name = "off" if raw is False else v.string(raw, (*path, "mode"), MODES)
        mode = MODES[MODES.index(name)]
    percent: int | None = None
    salt = ""
    if "rollout" in r:
        ro = v.mapping(r["rollout"], (*path, "rollout"), required=ROLLOUT_KEYS)
        percent = v.integer(ro["percent"], (*path, "rollout", "percent"), lo=0, hi=100)
        salt = v.string(ro["salt"], (*path, "rollout", "salt"))
    return Lifecycle(
        mode=mode,
        rollout_percent=percent,
        rollout_salt=salt,
        expires_at=time_ms(v, r["expires_at"], (*path, "expires_at"))
        if "expires_at" in r
        else None,
        daily_cap=v.integer(r["daily_cap"], (*path, "daily_cap"), lo=0, hi=MAX_DAILY_CAP)
        if "daily_cap" in r
        else None,
    )
