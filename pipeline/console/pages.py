"""What the pages show, shaped from the contract's JSON (pure): the creator's standing from
the restrictions snapshot and/or the worker's view, their recent decisions, an item's
evidence. The worker's view may gain fields (CONTRACT: unknown fields are ignored), so
lists of decisions are read by the fields the contract names and the rest shown as is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.certifications import CertSnapshot, is_qualified

# Fields of a queue item shown in their own place; the rest go to "more fields".
ITEM_FIELDS = (
    "kind", "review_id", "appeal_id", "action_id", "creator_id", "platform", "rule_id",
    "domain", "stream_id", "reason", "statement", "evidence", "opened_at", "status",
    "verdict", "reviewer_id", "note", "closed_at",
)  # fmt: skip
RESTRICTION_NAMES = {
    "banned_until": "banned",
    "recommendation_limited_until": "recommendation limited",
}


@dataclass
class RestrictionRow:
    what: str
    until: int | str | None  # ms; None permanent; "while_qualified"
    imposed_by: dict[str, Any] | None = None


@dataclass
class Standing:
    credit: int | None
    credit_max: int | None
    credit_source: str
    restrictions: list[RestrictionRow] = field(default_factory=list)
    restrictions_source: str = ""
    as_of: int | None = None
    view_credit: int | None = None  # the worker view's figure, when it differs
    platform: str | None = None  # v3 (CONTRACT §11): the creator's, whose scheme applies


def _rows_from_flat(flat: dict[str, Any], now_ms: int) -> list[RestrictionRow]:
    """banned_until / recommendation_limited_until / commerce_revoked{surface: until}, those
    in force at now_ms (null: not in force, except in commerce_revoked where it is permanent)."""
    rows = []
    for key, name in RESTRICTION_NAMES.items():
        value = flat.get(key)
        if isinstance(value, dict):  # {"until": …, "decision"|"imposed_by": {…}}
            rows.append(RestrictionRow(name, value.get("until"), _imposer(value)))
        elif value is not None:
            rows.append(RestrictionRow(name, value))
    for surface, value in sorted((flat.get("commerce_revoked") or {}).items()):
        name = f"commerce revoked: {surface}"
        if isinstance(value, dict):
            rows.append(RestrictionRow(name, value.get("until"), _imposer(value)))
        else:
            rows.append(RestrictionRow(name, value))
    return [r for r in rows if not isinstance(r.until, int) or r.until > now_ms]


def _imposer(value: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("decision", "imposed_by"):
        if isinstance(value.get(key), dict):
            found: dict[str, Any] = value[key]
            return found
    return None


ACTION_NAMES = {
    "ban_account": "banned",
    "limit_recommendation": "recommendation limited",
    "revoke_commerce": "commerce revoked",
}


def _rows_from_list(items: list[Any]) -> list[RestrictionRow]:
    """The view's `in_force`: each restricting action in force with its decision."""
    rows = []
    for entry in items:
        if not isinstance(entry, dict):
            continue
        action = entry.get("restriction") or entry.get("action") or "?"
        what = ACTION_NAMES.get(str(action), str(action).replace("_", " "))
        surfaces = entry.get("surfaces") or ([entry["surface"]] if entry.get("surface") else [])
        if surfaces:
            what = f"{what}: {', '.join(map(str, surfaces))}"
        rows.append(RestrictionRow(what, entry.get("until"), _imposer(entry) or entry))
    return rows


def standing(snapshot: dict[str, Any] | None, view: dict[str, Any] | None, now_ms: int) -> Standing:
    """Credit: the latest snapshot on enforcement.restrictions (the standing as last decided,
    CONTRACT §9), else the worker's view. The view's figure, when it differs (it counts
    recovery up to now), is kept beside it. Restrictions: the view's when it names what
    imposed them, else the snapshot's."""
    view_credit = view.get("credit") if view is not None else None
    if snapshot is not None and isinstance(snapshot.get("credit"), int):
        out = Standing(snapshot["credit"], None, "enforcement.restrictions",
                       as_of=snapshot.get("decided_at"))  # fmt: skip
        if isinstance(view_credit, int) and view_credit != out.credit:
            out.view_credit = view_credit
    elif view is not None and isinstance(view_credit, int):
        out = Standing(view_credit, None, "worker view", as_of=view.get("as_of"))
    else:
        out = Standing(None, None, "no decision has changed this creator's standing")
    if view is not None and isinstance(view.get("credit_max"), int):
        out.credit_max = view["credit_max"]
    for source in (view, snapshot):
        if source is not None and isinstance(source.get("platform"), str):
            out.platform = source["platform"]
            break
    view_r = view.get("in_force", view.get("restrictions")) if view is not None else None
    view_rows = (
        _rows_from_list(view_r) if isinstance(view_r, list)
        else _rows_from_flat(view_r, now_ms) if isinstance(view_r, dict) else []
    )  # fmt: skip
    if snapshot is not None and not any(r.imposed_by for r in view_rows):
        out.restrictions = _rows_from_flat(snapshot, now_ms)
        out.restrictions_source = "enforcement.restrictions"
    elif view_r is not None:
        out.restrictions, out.restrictions_source = view_rows, "worker view"
    return out


def decisions(view: dict[str, Any] | None, limit: int = 20) -> list[dict[str, Any]]:
    """The decisions the view names (those that imposed a restriction in force or a
    deduction that stands, CONTRACT §8 `explain`), newest first: one row per decision with
    its time and evidence, and each of its actions with that action's rule and reason."""
    if view is None:
        return []
    rows: dict[str, dict[str, Any]] = {}
    for key in ("in_force", "deductions", "decisions", "recent_decisions"):
        found = view.get(key)
        if not isinstance(found, list):
            continue
        for entry in found:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("decision_id") or entry.get("action_id") or len(rows))
            row = rows.setdefault(name, {
                "decision_id": name, "event_ts": entry.get("event_ts"),
                "decided_at": entry.get("decided_at"), "evidence": entry.get("evidence") or [],
                "actions": [],
            })  # fmt: skip
            seen = {a.get("action_id") for a in row["actions"]}
            if entry.get("action_id") is None or entry.get("action_id") not in seen:
                row["actions"].append({k: entry.get(k) for k in (
                    "action", "action_id", "rule_id", "reason", "points", "until",
                    "notice")})  # fmt: skip
    ordered = sorted(rows.values(), key=lambda d: d.get("event_ts") or d.get("decided_at") or 0,
                     reverse=True)  # fmt: skip
    return ordered[:limit]


def exemptions(view: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The view's exemptions (CONTRACT §10): rules that shadow for this creator until a time."""
    found = view.get("exemptions") if view is not None else None
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def certifications(certs: CertSnapshot, now_ms: int) -> list[dict[str, Any]]:
    return [
        {
            "domain": domain,
            "status": c.status,
            "qualified": is_qualified(certs, domain, now_ms),
            "license_id": c.license_id,
            "issuer": c.issuer,
            "profession": c.profession,
            "valid_from": c.valid_from,
            "valid_until": c.valid_until,
        }
        for domain, c in sorted(certs.items())
    ]


def stream_of(item: dict[str, Any], view: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stream's title and category: the item's own, else the worker's live streams."""
    stream_id = item.get("stream_id")
    own = {k: item[k] for k in ("title", "category") if item.get(k)}
    if isinstance(item.get("stream"), dict):
        own = {**item["stream"], **own}
    if not own and view is not None and stream_id:
        live = view.get("live_streams") or {}
        if isinstance(live, dict) and isinstance(live.get(stream_id), dict):
            own = {**live[stream_id], "live": True}
    if not stream_id and not own:
        return None
    return {"stream_id": stream_id, **own}


def reports_of(item: dict[str, Any], view: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The reports the item carries, else those the worker's view names for its stream."""
    if isinstance(item.get("reports"), list):
        return [r for r in item["reports"] if isinstance(r, dict)]
    reports = view.get("reports") if view is not None else None
    stream_id = item.get("stream_id")
    if isinstance(reports, dict) and stream_id and isinstance(reports.get(stream_id), dict):
        window = reports[stream_id]
        reporters = window.get("reporters") or {}
        return [{"reporter_id": r, "ts": ts} for r, ts in sorted(reporters.items())]
    if isinstance(reports, list):
        return [r for r in reports if isinstance(r, dict) and r.get("stream_id") == stream_id]
    return []


def appealed_action(item: dict[str, Any], view: dict[str, Any] | None) -> dict[str, Any] | None:
    """The appealed action with its decision, when the view still names it (in force or a
    standing deduction)."""
    action_id = item.get("action_id")
    if view is None or not action_id:
        return None
    for key in ("in_force", "deductions"):
        for entry in view.get(key) or []:
            if isinstance(entry, dict) and entry.get("action_id") == action_id:
                return entry
    return None


def more_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ITEM_FIELDS and k not in ("reports",)}
