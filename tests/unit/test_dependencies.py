"""Dependencies: the lock files (requirements/*.txt, `make lock`) agree with pyproject.toml
and carry hashes; the runtime set carries no plotting; the dashboard plot needs matplotlib, an
extra (`livegate[plots]`), and without it one line says what to install."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.domain.errors import LiveGateError
from pipeline.ops import dashplot

ROOT = Path(__file__).resolve().parents[2]


def test_without_matplotlib_it_says_which_extra_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises
    with pytest.raises(LiveGateError, match=r"pip install 'livegate\[plots\]'"):
        dashplot.render("http://127.0.0.1:1", tmp_path / "d.png")
    assert (
        dashplot.main(["--prometheus", "http://127.0.0.1:1", "--out", str(tmp_path / "d.png")]) == 1
    )
    assert "livegate[plots]" in capsys.readouterr().err


def test_the_runtime_lock_has_no_plotting_and_pins_the_engine_libraries():
    runtime = (ROOT / "requirements" / "runtime.txt").read_text()
    pinned = {line.split("==")[0] for line in runtime.splitlines() if "==" in line}
    assert not pinned & {"matplotlib", "numpy", "pillow", "fonttools"}
    assert {"faust-streaming", "aiokafka", "mode-streaming", "aiohttp", "jinja2"} <= pinned
    assert "--hash=sha256:" in runtime
    dev = (ROOT / "requirements" / "dev.txt").read_text()
    assert "matplotlib==" in dev and "kubernetes-validate==" in dev


def pinned(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    pins = (line.split(" ")[0].split(";")[0] for line in text.splitlines() if "==" in line)
    return {canonicalize_name(p.split("==")[0]): p.split("==")[1] for p in pins}


def test_every_declared_dependency_is_locked_at_a_version_it_allows():
    """A dependency added or a floor raised in pyproject.toml without `make lock` fails."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for lock, declared in (
        ("runtime.txt", project["dependencies"]),
        ("dev.txt", project["dependencies"] + project["optional-dependencies"]["dev"]),
    ):
        pins = pinned(lock)
        for line in declared:
            req = Requirement(line)
            name = canonicalize_name(req.name)
            assert name in pins, f"{req.name} is not in requirements/{lock}: run make lock"
            assert req.specifier.contains(pins[name], prereleases=True), (lock, line, pins[name])
