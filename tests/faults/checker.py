"""What a fault may not do, checked over everything that came out of the system.

- every input event_id has a decision or a dead letter, and all records for it are identical
  (a re-emission after a crash differs only in decided_at and its place in the hash chain);
- no action_id appears twice with different content;
- no effect is applied twice: per creator, the distinct credit deductions, in decision order,
  form one consistent chain from its platform's starting credit (12, or 100 on
  wechat-channels: CONTRACT §11); a deduction computed from a stale state breaks it;
- per (creator, input topic) the decisions follow the input order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VOLATILE_DECISION = ("decided_at", "prev_hash", "hash", "seal")


@dataclass
class Report:
    events_in: int
    decisions_out: int = 0
    distinct_decided: int = 0
    dead_letters: int = 0
    duplicate_decisions: int = 0
    duplicate_actions: int = 0
    actions: int = 0
    max_latency_ms: int = 0
    problems: list[str] = field(default_factory=list)
    verify_output: str = ""

    def line(self, name: str) -> str:
        return (
            f"[{name}] events in {self.events_in}, decisions out {self.decisions_out} "
            f"({self.distinct_decided} distinct, {self.duplicate_decisions} re-emitted), "
            f"dead letters {self.dead_letters}, actions {self.actions} "
            f"({self.duplicate_actions} re-emitted), max decision latency "
            f"{self.max_latency_ms / 1000:.1f}s, problems {len(self.problems)}"
        )


def _strip(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}


def check(
    inputs: list[dict[str, Any]],
    decisions: list[Any],
    actions: list[Any],
    dead: list[Any],
    start_credit: Callable[[str | None], int] = lambda platform: 12,
) -> Report:
    report = Report(events_in=len(inputs), decisions_out=len(decisions), dead_letters=len(dead))
    problems = report.problems
    by_event: dict[str, dict[str, Any]] = {}
    order: list[dict[str, Any]] = []
    for d in sorted(decisions, key=lambda r: (r.partition, r.offset)):
        body = _strip(d, VOLATILE_DECISION)
        seen = by_event.get(d["event_id"])
        if seen is None:
            by_event[d["event_id"]] = body
            order.append(d)
            report.max_latency_ms = max(report.max_latency_ms, d["decided_at"] - d["event_ts"])
        else:
            report.duplicate_decisions += 1
            if seen != body:
                differ = sorted(k for k in seen.keys() | body.keys() if seen.get(k) != body.get(k))
                shown = "; ".join(
                    f"{k}: {seen.get(k)!r:.300} != {body.get(k)!r:.300}" for k in differ
                )
                problems.append(f"decision for {d['event_id']} re-emitted with other {shown}")
    report.distinct_decided = len(by_event)
    dead_ids = {str(x.get("value", ""))[:300] for x in dead}
    for e in inputs:
        if e["event_id"] not in by_event and not any(e["event_id"] in v for v in dead_ids):
            problems.append(f"event {e['event_id']} has no decision and no dead letter")
    by_action: dict[str, dict[str, Any]] = {}
    for a in actions:
        body = _strip(a, ("decided_at",))
        seen = by_action.get(a["action_id"])
        if seen is None:
            by_action[a["action_id"]] = body
        else:
            report.duplicate_actions += 1
            if seen != body:
                problems.append(f"action {a['action_id'][:12]} re-emitted with other content")
    report.actions = len(by_action)
    _check_credit(order, by_action, start_credit, problems)
    _check_order(order, problems)
    return report


def _check_credit(
    order: list[Any], by_action: dict[str, dict[str, Any]],
    start: Callable[[str | None], int], problems: list[str],
) -> None:  # fmt: skip
    credit: dict[str, int] = {}
    for d in order:
        for action_id in d["action_ids"]:
            a = by_action.get(action_id)
            if a is None:
                problems.append(
                    f"decision {d['event_id']} names action {action_id[:12]} "
                    "that is not on enforcement.actions"
                )
                continue
            if a["action"] != "deduct_credit":
                continue
            before = credit.get(a["creator_id"])
            if before is None:  # the creator's first deduction: from its platform's start
                before = start(a.get("platform"))
            expected = max(0, before - a["points"])
            if a["credit_after"] != expected:
                problems.append(
                    f"{a['creator_id']}: deduction for {d['event_id']} leaves "
                    f"{a['credit_after']}, expected {expected} (an effect applied twice?)"
                )
            credit[a["creator_id"]] = a["credit_after"]


def _check_order(order: list[Any], problems: list[str]) -> None:
    last: dict[tuple[str, str], int] = {}
    for d in order:
        src = d.get("source") or {}
        key = (d["creator_id"], str(src.get("topic")))
        offset = int(src.get("offset", -1))
        if offset < last.get(key, -1):
            problems.append(f"{key}: decision for offset {offset} after offset {last[key]}")
        last[key] = max(offset, last.get(key, -1))
