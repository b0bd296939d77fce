"""Validation messages in the words of the people who type the values (issue 14): the
schema's decoder says `expected str matching regex '^[A-Za-z0-9._:-]+$' at $.creator_id`;
a person is told "creator_id must be 1–128 characters of letters, digits and . _ : -".

One place for every message the command line shows about a certification change (grant,
revoke, import rows) or an identifier it was given."""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from pipeline.domain.events import DOMAINS, Ident

IDENT_RULE = "1–128 characters of letters, digits and . _ : -"
_IDENT_FIELDS = {"creator_id", "event_id"}
_EXPECTED = re.compile(r"^expected `(?P<type>\w+)`(?P<rest>.*?) at `\$\.(?P<field>[\w.]+)`$")
_MISSING = re.compile(r"^missing required field `(?P<field>\w+)`")


def words_list(items: Sequence[str], last: str = "or") -> str:
    """health, finance, law or education"""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def unknown_domain(value: object) -> str:
    return f"unknown domain {value!r}: use {words_list(DOMAINS)}"


def in_words(detail: str) -> str:
    """A decoder's detail as a sentence about the field; unknown shapes lose only the
    backticks and the `$.` path syntax."""
    text = detail.strip()
    # msgspec's own form ("Expected `str` - at `$.x`"), as the dead letters' form.
    if " - at `" in text:
        what, where = text.split(" - at ", 1)
        text = f"{what[:1].lower()}{what[1:]} at {where}"
    elif text.startswith("Object missing"):
        text = text.replace("Object missing", "missing", 1) + " at `$`"
    m = _EXPECTED.match(text)
    if m:
        field, rest = m["field"], m["rest"].strip()
        if field in _IDENT_FIELDS and (
            rest.startswith("matching regex") or rest.startswith("of length")
        ):
            return f"{field} must be {IDENT_RULE}"
        if rest == "of length >= 1":
            return f"{field} must not be empty"
        length = re.fullmatch(r"of length <= (\d+)", rest)
        if length:
            return f"{field} must be at most {length[1]} characters"
        if m["type"] == "int" and rest == ">= 0":
            return f"{field} must not be before 1970-01-01"
        rest = rest.replace("`", "")
        sep = "" if not rest or rest.startswith(",") else " "
        return f"{field} must be {_article(m['type'])}{sep}{rest}"
    m = _MISSING.match(text)
    if m:
        return f"{m['field']} is required"
    enum = re.match(r"^invalid enum value (?P<value>.+) at `\$\.(?P<field>[\w.]+)`$", text)
    if enum:
        return f"{enum['field']} {enum['value']} is not one of the allowed values"
    if text == "Input data was truncated":
        return "the JSON is cut off (truncated)"
    if text == "`valid_from` must be earlier than `valid_until`":
        return "valid_until must be after valid_from"
    return text.replace("`$.", "").replace("`", "")


def _article(type_name: str) -> str:
    return {"str": "text", "int": "an integer", "float": "a number", "bool": "true or false",
            "object": "an object", "array": "a list"}.get(type_name, type_name)  # fmt: skip


def check_ident(value: str, field: str = "creator_id") -> str | None:
    """None when value is a valid identifier (CONTRACT §2), else what is wrong, in words."""
    try:
        msgspec.convert(value, Ident)
    except msgspec.ValidationError:
        return f"{field} must be {IDENT_RULE}; got {value[:140]!r}"
    return None
