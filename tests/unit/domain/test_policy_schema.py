"""The policy JSON Schema agrees with the loader: every file one edit away from the default
policy (a key dropped, an unknown key added, a value of the wrong kind) loads if and only if
it validates. What the schema cannot say (module docstring of policyschema.py) is left out.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.domain.errors import PolicyError
from pipeline.domain.policy import load_policy
from pipeline.domain.policyschema import policy_schema

POLICY = Path(__file__).resolve().parents[3] / "config" / "policy.yaml"
DOC = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(policy_schema())
WRONG_KINDS: tuple[Any, ...] = ("", "x", -1, 0, 0.5, True, None, [], "0s", "permanent")
FREE_KEYS = ("categories", "product_categories", "title_keywords")  # any key: try two


def representative(path: tuple[Any, ...]) -> bool:
    """One list item of a kind, two entries of a free mapping: the rest repeat them."""
    if path and path[-1] != 0 and isinstance(path[-1], int) and isinstance(at(DOC, path), str):
        return False
    if len(path) >= 2 and path[0] in FREE_KEYS:
        return list(at(DOC, path[:1])).index(path[1]) < 2
    if len(path) >= 3 and path[0] == "notices" and path[1] in ("rules", "actions"):
        return list(at(DOC, path[:2])).index(path[2]) < 2  # the catalogue repeats itself
    # An overlay is a partial policy: the schema checks platform names only, `policy check`
    # the merged policies (tests/unit/domain/test_platforms.py).
    return len(path) < 2 or path[0] != "platforms"


def known_gap(path: tuple[Any, ...], wrong: Any) -> bool:
    """What the schema cannot say: bands in descending order (a valid number may break it)."""
    return path[-1] == "min_confidence" and type(wrong) in (int, float) and 0 <= wrong <= 1


def paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()  # fmt: skip
    for key, child in children:
        yield from paths(child, (*path, key))


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def mutations() -> Iterator[tuple[str, Any]]:
    for path in filter(representative, paths(DOC)):
        value = at(DOC, path)
        if isinstance(value, dict):
            for key in value:
                if (*path, key) == ("notices",):
                    continue  # the overlays' notices override the base's: a merged gap
                doc = copy.deepcopy(DOC)
                del at(doc, path)[key]
                yield f"drop {(*path, key)}", doc
            doc = copy.deepcopy(DOC)
            at(doc, path)["bogus_key"] = 1
            yield f"add bogus_key at {path}", doc
        if path:
            for wrong in WRONG_KINDS:
                if known_gap(path, wrong):
                    continue
                doc = copy.deepcopy(DOC)
                at(doc, path[:-1])[path[-1]] = wrong
                yield f"{path} = {wrong!r}", doc


def loads(doc: Any) -> bool:
    try:
        load_policy(yaml.safe_dump(doc, allow_unicode=True))
    except PolicyError:
        return False
    return True


CASES = list(mutations())


def test_the_default_policy_validates():
    assert loads(DOC) and VALIDATOR.is_valid(DOC)


@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0][:80] for c in CASES])
def test_schema_and_loader_agree(case: int):
    name, doc = CASES[case]
    assert VALIDATOR.is_valid(doc) == loads(doc), name
