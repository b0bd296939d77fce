"""Issue 20: the canary. Every private name of Faust, mode, aiokafka and rocksdict that
LiveGate uses is listed in pipeline/adapters/faust/privates.py; an upgrade that removes one
fails here, naming it (and the worker refuses to start, naming it)."""

from __future__ import annotations

import pytest

from pipeline.adapters.faust import privates
from pipeline.domain.errors import LiveGateError


def test_every_private_name_livegate_relies_on_is_there():
    assert privates.missing() == []


def test_a_removed_name_is_named(monkeypatch):
    listed = (*privates.PRIVATE, ("faust.stores.rocksdb:Store", "_gone_in_v9", "tables"))
    monkeypatch.setattr(privates, "PRIVATE", listed)
    assert privates.missing() == ["faust.stores.rocksdb:Store._gone_in_v9 (tables)"]
    with pytest.raises(LiveGateError, match="_gone_in_v9"):
        privates.check()


def test_every_private_attribute_the_door_uses_is_listed():
    """A private name used in the adapters package but missing from the list fails here."""
    import ast
    from pathlib import Path

    door = Path(privates.__file__).parent
    listed = {attribute for _, attribute, _ in privates.PRIVATE if attribute}
    used: set[str] = set()
    for path in door.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in (
                        "self", "cls", "os", "super"))):  # fmt: skip
                used.add(node.attr)
    own = {"_tps", "_dbs_of", "_persist_offset"}
    assert used - listed - own == set()
