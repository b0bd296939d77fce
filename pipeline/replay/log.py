"""The decision log as replay input: decoding records back into decide()'s arguments, and
loading everything a replay needs (decisions, actions, policies, certification history)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from pipeline.adapters.kafka import read_topic, read_topic_window
from pipeline.adapters.records import Record
from pipeline.adapters.settings import Settings
from pipeline.domain.activation import PolicyBook
from pipeline.domain.certifications import Certification, CertSnapshot
from pipeline.domain.errors import InvalidEvent, LiveGateError
from pipeline.domain.events import KIND_OF_TYPE, Event, event_from_builtins
from pipeline.domain.policy import Policy, load_policy, policy_version
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
    # v3 (CONTRACT §10): the activations, to check each decision's version by its clock.
    book: PolicyBook | None = None
    # Read by period: each decisions partition's record just before what was read (the
    # chain head the period continues), and the Kafka-time window read.
    heads: dict[int, Row] = field(default_factory=dict)
    window: tuple[int, int] | None = None


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


# How far around a period (by event time) its decisions may have been written: an event may
# be stamped up to an hour after its record (CONTRACT §6), and is decided soon after it is read.
WINDOW_SLACK_MS = 3_600_000


async def load_inputs(
    settings: Settings, policy_files: list[Path], progress: bool | None, with_actions: bool = True,
    period: tuple[int, int] | None = None,
) -> ReplayInputs:  # fmt: skip
    """With `period` (by event time), only the decisions and actions written within an hour
    of it are read (offsets for times), with each decisions partition's record just before
    them (the chain head the period continues); without it, the whole log."""
    topics = settings.topics
    local = local_policies(policy_files)  # a missing file is said before any connection
    if period is not None:
        return await _load_window(settings, local, progress, with_actions, period)
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
        actions = _by_action_id(await read_topic(settings, topics.actions, bar))
        bar.close()
    policies, problems, changes, bad = await _policies_and_history(settings, local)
    book = await _book(settings)
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
        book=book,
    )


def _by_action_id(
    partitions: dict[int, list[Record]],
) -> dict[str, list[tuple[Record, dict[str, Any]]]]:
    actions: dict[str, list[tuple[Record, dict[str, Any]]]] = {}
    for rows in partitions.values():
        for r in rows:
            body = decode_json(r.value)
            if body is not None and isinstance(body.get("action_id"), str):
                actions.setdefault(body["action_id"], []).append((r, body))
    return actions


async def _policies_and_history(settings: Settings, local: dict[str, str]) -> Any:
    """The policy texts (the topic's and the given files'), loaded, and the certification
    history: (policies, problems, changes, bad changes)."""
    texts = await read_policies(settings)
    texts.update(local)
    policies, problems = load_versions(texts)
    changes, bad = await read_history(settings)
    return policies, problems, changes, bad


async def _book(settings: Settings) -> PolicyBook | None:
    """The activations (CONTRACT §10), to check each decision's version against its clock;
    None for a log of before v3 (no activation on the topic)."""
    from pipeline.engine.activations import read_activations

    found, _ = await read_activations(settings)
    if not found:
        return None
    return PolicyBook([(a, load_policy(a.text, source=a.activation_id)) for a in found])


async def _load_window(
    settings: Settings, local: dict[str, str], progress: bool | None, with_actions: bool,
    period: tuple[int, int],
) -> ReplayInputs:  # fmt: skip
    topics = settings.topics
    start, end = period[0] - WINDOW_SLACK_MS, period[1] + WINDOW_SLACK_MS
    bar = Progress("decisions", progress)
    raw, firsts = await read_topic_window(settings, topics.decisions, start, end, 1, bar)
    bar.close()
    decisions: dict[int, list[Row]] = {}
    heads: dict[int, Row] = {}
    for p, rows in raw.items():
        found = [Row(p, r.offset, decode_json(r.value)) for r in rows]
        if found and found[0].offset < firsts.get(p, 0):
            heads[p] = found.pop(0)  # the record just before the window: the chain's head
        decisions[p] = found
    starts = {p: firsts.get(p, 0) == 0 for p in raw}
    actions: dict[str, list[tuple[Record, dict[str, Any]]]] = {}
    if with_actions:
        bar = Progress("actions", progress)
        got, _ = await read_topic_window(settings, topics.actions, start, end, 0, bar)
        actions = _by_action_id(got)
        bar.close()
    policies, problems, changes, bad = await _policies_and_history(settings, local)
    return ReplayInputs(
        topics.decisions, topics.actions, decisions, starts, actions, policies, problems,
        CertHistory(changes), bad, sum(len(v) for v in raw.values()),
        seal_keys=settings.seal_keys, verdict_keys=settings.verdict_keys,
        book=await _book(settings), heads=heads, window=(start, end),
    )  # fmt: skip
