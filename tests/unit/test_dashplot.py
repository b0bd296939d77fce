"""The dashboard plot needs matplotlib, an extra (`livegate[plots]`): without it, one line
says what to install; the worker's runtime set does not carry it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
