"""Strict reading of a YAML document whose errors name the line of the offending key.

PyYAML's constructed data forgets where things were; the composed node tree remembers.
`parse` returns both, and `Validator` checks the data by path, blaming that path's line.
"""

from __future__ import annotations

import re
from typing import Any, Final, NoReturn

import yaml

from pipeline.domain.errors import PolicyError

_UNITS: Final = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT: Final = f"[{''.join(_UNITS)}]"
# A duration like 24h, 7d, 10m, 30s; not zero. Also the JSON Schema's pattern (policyschema).
DURATION_PATTERN: Final = f"^(?!0+{_UNIT}$)([0-9]{{1,9}})({_UNIT})$"
_DURATION: Final = re.compile(DURATION_PATTERN)

Path = tuple[str | int, ...]


def parse(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PolicyError("the policy file is empty", None, source)
        lines: dict[Path, int] = {(): node.start_mark.line + 1}
        _map_lines(node, (), lines, source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(f"YAML syntax: {exc.problem or exc}", line, source) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"YAML syntax: {exc}", None, source) from None
    finally:
        loader.dispose()
    return data, lines


def _map_lines(node: yaml.Node, path: Path, out: dict[Path, int], source: str) -> None:
    """Record the line of every key and list item, by its path; refuse duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if (*path, key) in out:
                raise PolicyError(f"duplicate key `{key}`", line, source)
            out[(*path, key)] = line
            _map_lines(value_node, (*path, key), out, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = item.start_mark.line + 1
            _map_lines(item, (*path, i), out, source)


class Validator:
    def __init__(self, lines: dict[Path, int], source: str) -> None:
        self.lines = lines
        self.source = source

    def fail(self, path: Path, reason: str) -> NoReturn:
        where = path
        while where and where not in self.lines:
            where = where[:-1]
        name = _dotted(path)
        raise PolicyError(
            f"`{name}`: {reason}" if name else reason, self.lines.get(where), self.source
        )

    def mapping(
        self, value: Any, path: Path, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {kind_of(value)}")
        allowed = (*required, *optional)
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.fail((*path, str(key)), f"unknown key; expected one of {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.fail(path, f"missing key `{key}`")
        return value

    def str_keys(self, value: Any, path: Path) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {kind_of(value)}")
        for key in value:
            if not isinstance(key, str) or not key:
                self.fail((*path, str(key)), "keys must be non-empty strings")
        return value

    def integer(self, value: Any, path: Path, lo: int = 0, hi: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer, got {kind_of(value)}")
        if value < lo or (hi is not None and value > hi):
            self.fail(path, f"{value} is out of range [{lo}, {hi if hi is not None else '∞'}]")
        return value

    def number(self, value: Any, path: Path, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number, got {kind_of(value)}")
        if not lo <= value <= hi:
            self.fail(path, f"{value} is out of range [{lo}, {hi}]")
        return float(value)

    def string(self, value: Any, path: Path, choices: tuple[str, ...] = ()) -> str:
        if not isinstance(value, str) or not value:
            self.fail(path, f"expected a non-empty string, got {kind_of(value)}")
        if choices and value not in choices:
            self.fail(path, f"`{value}` is not one of {', '.join(choices)}")
        return value

    def strings(self, value: Any, path: Path, choices: tuple[str, ...] = ()) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.fail(path, f"expected a non-empty list, got {kind_of(value)}")
        return tuple(self.string(item, (*path, i), choices) for i, item in enumerate(value))

    def duration(self, value: Any, path: Path) -> int:
        ms = self.duration_or_permanent(value, path, permanent=False)
        assert ms is not None  # permanent=False never yields None
        return ms

    def duration_or_permanent(self, value: Any, path: Path, permanent: bool = True) -> int | None:
        if permanent and value == "permanent":
            return None
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None or int(match.group(1)) == 0:
            allowed = "like 24h, 7d, 10m, 30s" + (" or `permanent`" if permanent else "")
            self.fail(path, f"expected a duration {allowed}, got {value!r}")
        return int(match.group(1)) * _UNITS[match.group(2)]


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)
