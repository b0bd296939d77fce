"""Imports point down only: domain ← adapters ← engine ← agents ← ops/replay/bench/cli.

Every module of pipeline/ and agents/ is parsed, its imports (lazy ones inside functions
too) are resolved to LiveGate modules, and an import of a higher layer fails with the two
module names. Within the top layer only the CLI imports agents/ (to run the worker).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RANK = {"domain": 0, "adapters": 1, "engine": 2, "agents": 3, "ops": 4, "replay": 4, "bench": 4,
        "console": 4}  # fmt: skip
TOP = 4


def layer(module: str) -> tuple[str, int] | None:
    """The layer of a LiveGate module (pipeline.X… or agents…), or None for third party."""
    parts = module.split(".")
    if parts[0] == "agents":
        return "agents", RANK["agents"]
    if parts[0] != "pipeline" or len(parts) < 2:
        return ("pipeline", -1) if parts == ["pipeline"] else None
    if parts[1] == "cli":
        return "cli", TOP
    if parts[1] in RANK:
        return parts[1], RANK[parts[1]]
    return "pipeline", -1  # a module outside the layers: itself a failure, see below


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            # `from pipeline.adapters import kafka` imports the module pipeline.adapters.kafka
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if layer(m) is not None and _exists(m)}


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violations(importer: str, imported: set[str]) -> list[str]:
    src = layer(importer)
    assert src is not None
    src_name, src_rank = src
    bad = []
    for target in sorted(imported):
        dst = layer(target)
        assert dst is not None
        dst_name, dst_rank = dst
        if dst_name == "pipeline" and dst_rank < 0 and target != "pipeline":
            bad.append(f"{importer} imports {target}, which is in no layer")
        elif dst_name == "agents" and src_rank == TOP and src_name != "cli":
            bad.append(f"{importer} imports {target}: only the CLI imports agents/")
        elif dst_name == "cli" and src_name != "cli":
            bad.append(f"{importer} imports {target}: nothing imports the CLI")
        elif dst_rank > src_rank:
            bad.append(f"{importer} ({src_name}) imports {target} ({dst_name}): an arrow up")
    return bad


MODULES = sorted(
    p
    for base in ("pipeline", "agents")
    for p in (ROOT / base).rglob("*.py")
    if p.name != "__main__.py" or base != "pipeline"
)


def test_every_pipeline_module_is_in_a_layer():
    stray = [module_name(p) for p in MODULES if layer(module_name(p)) == ("pipeline", -1)]
    assert stray == ["pipeline"], f"modules outside the layers: {stray}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down(path: Path):
    name = module_name(path)
    if name == "pipeline":
        return
    assert violations(name, imports_of(path) - {name}) == []


@pytest.mark.parametrize(
    ("importer", "imported", "why"),
    [
        ("pipeline.domain.policy", "pipeline.adapters.settings", "arrow up"),
        ("pipeline.adapters.kafka", "pipeline.engine.processor", "arrow up"),
        ("pipeline.engine.processor", "agents.runtime", "arrow up"),
        ("pipeline.engine.processor", "pipeline.ops.stack", "arrow up"),
        ("pipeline.bench.faustopts", "agents.app", "only the CLI"),
        ("pipeline.ops.registry", "pipeline.cli.certs", "nothing imports the CLI"),
        ("agents.app", "pipeline.replay.verify", "arrow up"),
    ],
)
def test_the_checker_can_fail(importer: str, imported: str, why: str):
    found = violations(importer, {imported})
    assert len(found) == 1 and why in found[0] and importer in found[0] and imported in found[0]


def test_the_checker_allows_what_points_down():
    assert violations("pipeline.cli.worker", {"agents.app", "pipeline.ops.stack"}) == []
    assert violations("pipeline.engine.processor", {"pipeline.domain.decide"}) == []
    assert violations("agents.app", {"pipeline.engine.processor"}) == []


# Issue 20: one door for Faust. These libraries are imported only by the adapters package
# that holds every use of their internals, by the Faust app itself (agents/, public API),
# and by the bench's bare-Faust engine floor (what it measures is Faust alone).
DOORED = ("faust", "mode", "rocksdict")
DOOR = "pipeline.adapters.faust"
ALLOWED = ("agents", "pipeline.bench.faust_floor")


def third_party_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


def door_violations(importer: str, imported: set[str]) -> list[str]:
    if importer == DOOR or importer.startswith(DOOR + ".") or importer.startswith(ALLOWED):
        return []
    return [f"{importer} imports {m}: only {DOOR} (and agents/) may import {m.split('.')[0]}"
            for m in sorted(imported) if m.split(".")[0] in DOORED]  # fmt: skip


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_faust_mode_and_rocksdict_are_imported_only_through_their_door(path: Path):
    assert door_violations(module_name(path), third_party_of(path)) == []


def test_the_door_check_can_fail():
    found = door_violations("pipeline.engine.processor", {"faust.types", "msgspec"})
    assert found == ["pipeline.engine.processor imports faust.types: only "
                     "pipeline.adapters.faust (and agents/) may import faust"]  # fmt: skip
    assert door_violations("pipeline.adapters.faust.fetching", {"faust", "mode.utils"}) == []
