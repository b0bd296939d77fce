"""The decision log as replay input: decoding records back into decide()'s arguments, and
loading everything a replay needs (decisions, actions, policies, certification history)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from pipeline.adapters.kafka import read_topic
from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.domain.certifications import Certification, CertSnapshot
from pipeline.domain.errors import InvalidEvent, LiveGateError
from pipeline.domain.events import KIND_OF_TYPE, Event, event_from_builtins
from pipeline.domain.policy import Policy, policy_version
from pipeline.domain.state import CreatorState, state_from_view
from pipeline.engine.policyhistory import load_versions, read_policies
from pipeline.ops.registry import read_history
from pipeline.replay.certhistory import CertHistory
from pipeline.replay.progress import Progress

_decoder = msgspec.json.Decoder()


class ReplayError(LiveGateError):
    pass


@dataclass
class Row:
    """One decision record as found: where, and its JSON (None when not an object)."""

    partition: int
    offset: int
    record: dict[str, Any] | None


@dataclass
class ReplayInputs:
    decisions_topic: str
    actions_topic: str
    decisions: dict[int, list[Row]]
    starts_at_zero: dict[int, bool]
    actions: dict[str, list[tuple[Record, dict[str, Any]]]]  # action_id -> copies on the topic
    policies: dict[str, Policy]
    policy_problems: list[str]
    history: CertHistory
    history_bad: int
    records_read: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # CONTRACT §12: seals make a record LiveGate's; verdict keys re-check signed events.
    seal_keys: Mapping[str, str] | None = None
    verdict_keys: Mapping[str, str] = field(default_factory=dict)


def decode_json(value: bytes | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        out = _decoder.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return out if isinstance(out, dict) else None


def recorded_event(rec: dict[str, Any]) -> Event:
    body = rec.get("event")
    if not isinstance(body, dict):
        raise ReplayError("the record has no `event` object")
    if str(body.get("type")) not in KIND_OF_TYPE:
        raise ReplayError(f"unknown event type {body.get('type')!r}")
    try:
        return event_from_builtins(body)[1]
    except InvalidEvent as exc:
        raise ReplayError(
            f"the recorded event does not decode ({exc.error}: {exc.detail})"
        ) from None


def recorded_certs(rec: dict[str, Any]) -> CertSnapshot:
    try:
        return msgspec.convert(rec.get("certifications"), dict[str, Certification])
    except msgspec.ValidationError as exc:
        raise ReplayError(f"bad certification snapshot: {exc}") from None


def recorded_state(rec: dict[str, Any]) -> CreatorState:
    view = rec.get("state_before")
    if not isinstance(view, dict):
        raise ReplayError("the record has no `state_before` object")
    return state_from_view(view)


def in_period(rec: dict[str, Any] | None, start: int, end: int) -> bool:
    ts = rec.get("event_ts") if rec else None
    return isinstance(ts, int) and start <= ts < end


def local_policies(paths: list[Path]) -> dict[str, str]:
    out = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ReplayError(f"cannot read policy {path}: {exc}") from None
        out[policy_version(text)] = text
    return out


async def load_inputs(
    settings: Settings, policy_files: list[Path], progress: bool | None, with_actions: bool = True
) -> ReplayInputs:
    topics = settings.topics
    local = local_policies(policy_files)  # a missing file is said before any connection
    bar = Progress("decisions", progress)
    raw = await read_topic(settings, topics.decisions, bar)
    bar.close()
    decisions = {
        p: [Row(p, r.offset, decode_json(r.value)) for r in rows] for p, rows in raw.items()
    }
    starts = {p: (not rows or rows[0].offset == 0) for p, rows in raw.items()}
    actions: dict[str, list[tuple[Record, dict[str, Any]]]] = {}
    if with_actions:
        bar = Progress("actions", progress)
        for rows in (await read_topic(settings, topics.actions, bar)).values():
            for r in rows:
                body = decode_json(r.value)
                if body is not None and isinstance(body.get("action_id"), str):
                    actions.setdefault(body["action_id"], []).append((r, body))
        bar.close()
    texts = await read_policies(settings)
    texts.update(local)
    policies, problems = load_versions(texts)
    changes, bad = await read_history(settings)
    return ReplayInputs(
        topics.decisions,
        topics.actions,
        decisions,
        starts,
        actions,
        policies,
        problems,
        CertHistory(changes),
        bad,
        sum(len(v) for v in raw.values()),
        seal_keys=settings.seal_keys,
        verdict_keys=settings.verdict_keys,
    )
