"""Creator notices (CONTRACT §11): the policy's `notices:` catalogue, checked and rendered.

A notice tells the creator, in zh-CN and en, what happened and under which rule (the rule's
template), what it costs and until when (the action's template), and for an action that can
be appealed, how to appeal and by when (the `appeal` template). A lifting action's notice is
its action template alone. Placeholders come from a closed set; their values are rendered per
language from the action itself, and `{appeal_by}` from its `event_ts` (never `decided_at`), so
a re-emitted action carries the same notice byte for byte.

Pure: parsing with the policy file's Validator, rendering with string formatting only.
"""

from __future__ import annotations

import datetime as dt
import functools
import string
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from pipeline.domain.yamlcheck import Path, Validator

LANGUAGES: Final = ("zh-CN", "en")
PLACEHOLDERS: Final = (
    "creator_id", "platform", "stream_id", "link_id", "domain", "points", "credit_after",
    "until", "appeal_by",
)  # fmt: skip
SECTIONS: Final = ("rules", "actions", "appeal")
# Every action, lifting ones included (CONTRACT §4): each needs its template.
NOTICE_ACTIONS: Final = (
    "cut_off_stream", "limit_recommendation", "remove_product_link", "revoke_commerce",
    "deduct_credit", "ban_account", "warn", "flag_for_review",
    "lift_ban", "lift_recommendation_limit", "restore_commerce", "restore_credit",
)  # fmt: skip
LIFTING: Final = frozenset({"lift_ban", "lift_recommendation_limit", "restore_commerce",
                            "restore_credit"})  # fmt: skip
_NOT_APPEALABLE: Final = LIFTING | {"warn", "flag_for_review"}
_DOMAINS: Final = {
    "zh-CN": {"health": "医疗", "finance": "金融", "law": "法律", "education": "教育"},
    "en": {"health": "health", "finance": "finance", "law": "law", "education": "education"},
}
_UNTIL: Final = {
    "zh-CN": {"at": "至{}", "permanent": "永久", "while": "在您持有{}资质期间"},
    "en": {"at": "until {}", "permanent": "permanently",
           "while": "for as long as you hold a {} qualification"},
}  # fmt: skip
_MISSING: Final = "—"

Text = dict[str, str]  # language -> template


class Catalogue(msgspec.Struct, frozen=True, gc=False):
    rules: dict[str, Text]
    actions: dict[str, Text]
    appeal: Text


def parse_catalogue(
    v: Validator, value: Any, rule_ids: Iterable[str], also: Iterable[str] = ()
) -> Catalogue:
    """The `notices:` section: every rule in `rule_ids` and every action, both languages,
    placeholders of the closed set only; errors name the template's line. Rules in `also`
    may have a notice (a credit threshold this policy does not set)."""
    path: Path = ("notices",)
    top = v.mapping(value, path, required=SECTIONS)
    rules = _section(v, top["rules"], (*path, "rules"), tuple(rule_ids), tuple(also))
    actions = _section(v, top["actions"], (*path, "actions"), NOTICE_ACTIONS)
    return Catalogue(rules, actions, _text(v, top["appeal"], (*path, "appeal")))


def _section(
    v: Validator, value: Any, path: Path, keys: tuple[str, ...], also: tuple[str, ...] = ()
) -> dict[str, Text]:
    given = v.str_keys(value, path)
    for key in keys:
        if key not in given:
            v.fail(path, f"no notice for `{key}`: every rule and action needs one, zh-CN and en")
    for key in given:
        if key not in keys and key not in also:
            v.fail((*path, key), f"no rule or action `{key}` to write a notice for")
    return {key: _text(v, text, (*path, key)) for key, text in given.items()}


def _text(v: Validator, value: Any, path: Path) -> Text:
    t = v.mapping(value, path, required=LANGUAGES)
    out = {}
    for lang in LANGUAGES:
        template = v.string(t[lang], (*path, lang))
        for name in _fields(v, template, (*path, lang)):
            if name not in PLACEHOLDERS:
                v.fail(
                    (*path, lang),
                    f"unknown placeholder {{{name}}}; allowed: "
                    + " ".join(f"{{{p}}}" for p in PLACEHOLDERS),
                )
        out[lang] = template
    return out


def _fields(v: Validator, template: str, path: Path) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        v.fail(path, f"bad template ({exc}); write a literal brace as {{{{ or }}}}")
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if spec or conv or not name.isidentifier():
            v.fail(path, f"placeholder {{{name}}} takes no format or conversion")
        names.append(name)
    return names


# --- rendering --------------------------------------------------------------------------


def render(
    catalogue: Catalogue, rule_id: str, action: str, values: Mapping[str, Any], window_ms: int
) -> dict[str, str]:
    """The action's notice, {"zh-CN": …, "en": …}. `values` holds the action's fields (the
    placeholders' sources; `event_ts`, `until`, `while_qualified` included)."""
    out = {}
    common = {name: _given(values, name) for name in _AS_GIVEN}
    domain = values.get("domain")
    appeal_by = int(values["event_ts"]) + window_ms
    for lang in LANGUAGES:
        fields = {
            **common,
            "domain": _DOMAINS[lang].get(domain, domain) if isinstance(domain, str) else _MISSING,
            "until": _until(lang, values),
            "appeal_by": when(lang, appeal_by),
        }
        parts = [] if action in LIFTING else [catalogue.rules.get(rule_id, {}).get(lang, "")]
        parts.append(catalogue.actions[action][lang])
        if action not in _NOT_APPEALABLE:
            parts.append(catalogue.appeal[lang])
        sep = "" if lang == "zh-CN" else " "
        out[lang] = sep.join(p.format_map(fields) for p in parts if p)
    return out


_AS_GIVEN: Final = ("creator_id", "platform", "stream_id", "link_id", "points", "credit_after")


def _given(a: Mapping[str, Any], name: str) -> str:
    value = a.get(name)
    return _MISSING if value is None else str(value)


def _until(lang: str, a: Mapping[str, Any]) -> str:
    words = _UNTIL[lang]
    if a.get("while_qualified"):
        domain = a["while_qualified"]
        return words["while"].format(_DOMAINS[lang].get(domain, domain))
    if "until" not in a:
        return _MISSING
    until = a["until"]
    return words["permanent"] if until is None else words["at"].format(when(lang, until))


@functools.lru_cache(maxsize=4096)  # a pure function: a decision's actions share their times
def when(lang: str, ms: int) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    if lang == "zh-CN":
        return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}（UTC）"
    return f"{t:%Y-%m-%d %H:%M} UTC"
