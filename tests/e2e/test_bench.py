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
    # The paced regimes, for the floor and the worker: 200, 1,000 and min(5,000, half the
    # system's maximum) events/s, and events produced while it runs.
    for system in ("floor", "livegate_1"):
        paced = result["paced"][system]
        top = round(min(5000, systems[system]["events_per_s"] / 2))
        assert set(paced) == {"at_200_per_s", "at_1000_per_s", f"at_{top}_per_s", "live"} or (
            top in (200, 1000) and set(paced) == {"at_200_per_s", "at_1000_per_s", "live"}
        ), (system, set(paced))
        for phase, f in paced.items():
            assert f["cpu_us_per_event"] > 0, (system, phase)
            if phase != "live":
                assert f["events"] > 0, (system, phase)
                assert 0 <= f["p50_ms"] <= f["p99_ms"] <= f["max_ms"], (system, phase)
        assert paced["at_1000_per_s"]["rate"] == 1000
    # The worker's batches: CPU per batch and events per batch, from its /metrics.
    for phase, f in result["paced"]["livegate_1"].items():
        assert f["batches"] > 0 and f["events_per_batch"] > 0, phase
        assert f["cpu_us_per_batch"] > 0, phase
        # Its CPU by thread: the event loop, Faust's consumer thread and librdkafka's threads
        # each did work in every phase (their OS names: adapters/threadnames.py).
        by = f["threads_us_per_event"]
        assert set(by) == {"event loop", "consumer", "librdkafka", "other"}, phase
        assert by["event loop"] > 0 and by["consumer"] > 0 and by["librdkafka"] > 0, (phase, by)
    assert result["preload"]["certifications"] > 0
    assert set(result["workload"]["mix"]) >= {"stream_started", "product_linked", "report"}
    # The table is what a person reads.
    assert "LiveGate, 1 worker" in r.stdout and "p99 ms" in r.stdout
    assert "CPU µs/ev" in r.stdout and "at 1,000 events/s" in r.stdout
    assert r.stdout.index("paced regimes") < r.stdout.index("LiveGate, 1 worker   ")
    assert "µs/batch" in r.stdout
    assert "worker CPU by thread (µs per event)" in r.stdout
