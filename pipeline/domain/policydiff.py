"""What changed between two policy files, in words a reviewer reads (`livegate policy diff`).

Both files are loaded first (so both are valid), then their documents are compared key by
key: a changed number or name shows old → new, a list of words (keywords, reasons, surfaces)
shows what was added and removed, other lists of the same length are compared item by item
(`rules.live.suspected.actions[0].limit_recommendation.duration: 24h → 48h`), a key added or
removed shows its value.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipeline.domain.platforms import DEFAULT, merged_document
from pipeline.domain.policy import Policy
from pipeline.domain.yamlcheck import parse

Scalar = str | int | float | bool | None


def policy_diff(old: Policy, new: Policy) -> list[str]:
    """One line per change, in the new file's order; empty when the meaning is the same."""
    out: list[str] = []
    _diff((), parse(old.text, old.source)[0], parse(new.text, new.source)[0], out)
    return out


def platform_diffs(old: Policy, new: Policy) -> dict[str, list[str]]:
    """Per platform (CONTRACT §11), what changed in the policy it is decided by (its merged
    policy, old → new): an overlay change shows under its platform only, a base change under
    every platform that does not override it. Platforms without a change are left out."""
    a, b = parse(old.text, old.source)[0], parse(new.text, new.source)[0]
    names = [DEFAULT, *new.platforms, *(p for p in old.platforms if p not in new.platforms)]
    out: dict[str, list[str]] = {}
    for name in names:
        lines: list[str] = []
        _diff((), merged_document(a, name), merged_document(b, name), lines)
        if lines:
            out[name] = lines
    return out


def overlay_changes(policy: Policy, platform: str) -> list[str]:
    """What `platform`'s overlay changes from the base, one line each."""
    data = parse(policy.text, policy.source)[0]
    out: list[str] = []
    _diff((), merged_document(data, DEFAULT), merged_document(data, platform), out)
    return out


def changed_rules(lines: list[str]) -> list[str]:
    rules = []
    for line in lines:
        path = line[2:].split(":", 1)[0]
        if path.startswith("rules.") and (rule := _rule_of(path)) not in rules:
            rules.append(rule)
    return rules


def _rule_of(path: str) -> str:
    # Rule ids are dotted themselves (live.unqualified): the rule is the two parts after it.
    return ".".join(path.split(".")[1:3])


def _diff(path: tuple[str, ...], a: Any, b: Any, out: list[str]) -> None:
    if a == b and type(a) is type(b):
        return
    where = ".".join(path)
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*b, *(k for k in a if k not in b)]:
            sub = (*path, str(key))
            if key not in a:
                out.append(f"+ {'.'.join(sub)}: {_show(b[key])}")
            elif key not in b:
                out.append(f"- {'.'.join(sub)}: {_show(a[key])}")
            else:
                _diff(sub, a[key], b[key], out)
    elif _words(a) and _words(b):
        added = [x for x in b if x not in a]
        removed = [x for x in a if x not in b]
        parts = []
        if added:
            parts.append("added " + ", ".join(_show(x) for x in added))
        if removed:
            parts.append("removed " + ", ".join(_show(x) for x in removed))
        out.append(f"~ {where}: {'; '.join(parts) or 'same items, new order'}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff((*path[:-1], f"{path[-1]}[{i}]") if path else (f"[{i}]",), x, y, out)
    else:
        out.append(f"~ {where}: {_show(a)} → {_show(b)}")


def _words(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    text: str = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000
    )
    return text.strip()
