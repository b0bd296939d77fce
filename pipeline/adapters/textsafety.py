"""Stored text made safe for where people read it. Reasons, ids, licences and notes come
from records anyone with write access to a topic or the Redis table could have made:
printed raw, an escape sequence in them drives the reader's terminal (moves the cursor,
rewrites earlier lines, sets the window title); saved raw in a CSV, a cell that starts with
`=` is a formula to a spreadsheet."""

from __future__ import annotations

import unicodedata

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# Format characters that reorder or hide what a terminal shows (bidi overrides, isolates).
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})  # controls; line and paragraph separators
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _CATEGORIES or char in _BIDI


def printable(text: object) -> str:
    """`text` with every control character (C0, DEL, C1) and bidi control written as an
    escape (`\\x1b`, `\\n`, `\\u202e`): one record stays one line, and the terminal only
    ever receives characters to show."""
    value = str(text)
    if value.isprintable():  # the common case, checked in C
        return value
    return "".join(_escape(c) if _unsafe(c) else c for c in value)


def printable_json(text: str, layout: bool = True) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)` or a stored record) with the
    characters `printable` escapes written as JSON escapes (`\u001b`): still the same JSON
    to a parser, harmless to a terminal. `layout`: keep line breaks (json.dumps with indent
    writes them only between values; inside strings they are escaped already)."""
    if text.isprintable():
        return text
    return "".join(
        f"\\u{ord(c):04x}" if _unsafe(c) and not (layout and c == "\n") else c for c in text
    )


def printable_lines(text: str) -> str:
    """Several lines of our own making that carry stored text: each line made printable,
    the line breaks between them kept."""
    return "\n".join(printable(line) for line in text.split("\n"))


def spreadsheet_cell(value: object) -> object:
    """A CSV cell as spreadsheets expect untrusted text: one that starts with = + - @ (or
    TAB, CR) is prefixed with a single quote, so it is shown as text, never evaluated.
    Numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
