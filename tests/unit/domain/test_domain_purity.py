"""pipeline/domain is pure: it imports only the standard library, msgspec and yaml."""

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[3] / "pipeline" / "domain"
ALLOWED_THIRD_PARTY = {"msgspec", "yaml"}
MODULES = sorted(DOMAIN.rglob("*.py"))


def imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the package
                yield "pipeline.domain"
            elif node.module:
                yield node.module


def allowed(name):
    top = name.split(".")[0]
    if name == "pipeline.domain" or name.startswith("pipeline.domain."):
        return True
    return top in ALLOWED_THIRD_PARTY or (top in sys.stdlib_module_names and top != "pipeline")


def test_there_are_modules_to_check():
    assert len(MODULES) >= 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(DOMAIN)))
def test_imports_only_stdlib_msgspec_yaml_and_the_domain(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = sorted({m for m in imported_modules(tree) if not allowed(m)})
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize(
    "name",
    ["faust", "redis", "aiokafka", "prometheus_client", "pipeline.adapters.settings", "agents.app"],
)
def test_the_checker_can_fail(name):
    assert not allowed(name)
    assert allowed("hashlib") and allowed("msgspec.json") and allowed("pipeline.domain.events")


def test_no_clock_is_read():
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        for clock in ("time.time(", "datetime.now(", "time.monotonic(", "datetime.utcnow("):
            assert clock not in text, f"{path.name} reads a clock"
