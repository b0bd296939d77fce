"""`livegate bench --quick` as CI runs it: every figure is there and positive.

No speed thresholds: on a shared machine the figures are noise-prone, and `livegate bench`
reports speed, it does not judge it (DESIGN.md, "Testing").
"""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.e2e


def test_quick_bench_writes_every_figure_and_both_ratios(stack_env, tmp_path):
    out = tmp_path / "bench.json"
    r = run_cli({**os.environ, **stack_env}, "bench", "--quick", "--json", str(out), timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(out.read_text())

    systems = result["systems"]
    for name in ("limit", "floor", "livegate_1"):
        assert systems[name]["events"] == result["workload"]["events"], name
        assert systems[name]["events_per_s"] > 0, name
        assert systems[name]["peak_rss_mb"] > 0, name
        # CPU from /proc, start-up excluded: the system's, and the (local) broker's.
        assert systems[name]["cpu_events"] > 0, name
        assert systems[name]["cpu_us_per_event"] > 0, name
        assert systems[name]["broker_cpu_us_per_event"] > 0, name
    assert result["ratios"]["livegate_1_to_limit"] > 0
    assert result["ratios"]["livegate_1_to_floor"] > 0
    assert systems["livegate_1"]["redis_round_trips_per_event"] > 0
    phases = ("at_500_per_s", "at_1000_per_s", "at_2000_per_s", "at_50pct", "at_90pct")
    assert set(result["latency"]) == set(phases)
    for phase in phases:
        latency = result["latency"][phase]
        assert latency["events"] > 0, phase
        assert 0 <= latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"], phase
        assert latency["cpu_us_per_event"] > 0, phase
    assert result["latency"]["at_1000_per_s"]["rate"] == 1000
    assert result["preload"]["certifications"] > 0
    assert set(result["workload"]["mix"]) >= {"stream_started", "product_linked", "report"}
    # The table is what a person reads.
    assert "LiveGate, 1 worker" in r.stdout and "p99 ms" in r.stdout
    assert "CPU µs/ev" in r.stdout and "at 1,000 events/s" in r.stdout
