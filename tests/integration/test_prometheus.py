"""A real Prometheus scrapes a real worker: the series exist, carry only fixed-set labels, and
move when events flow; the alert rules load and evaluate against them.

The module starts the distribution's `prometheus` (Debian package `prometheus`) on a free port
with a generated config that scrapes the worker's /metrics every second, and asserts through
Prometheus' HTTP API, as Grafana would read it. It also renders the dashboard's panels from
that Prometheus into .livegate/test-artifacts/prometheus-dashboard.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.ops.registry import grant_fields
from tests.conftest import ROOT
from tests.helpers import event, free_port, now_ms, produce
from tests.integration.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.integration

ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
ARTIFACTS = ROOT / ".livegate" / "test-artifacts"
YEAR = 365 * 86_400_000
# Every label a livegate_* series may carry: Prometheus' own, then pipeline/adapters/metrics.py's.
ALLOWED_LABELS = {"__name__", "job", "instance", "kind", "outcome", "action", "rule", "error",
                  "result", "reason", "le",
                  "version",  # livegate_build_info: one value per build
                  "generation"}  # livegate_gc_pause_seconds: the collector's 0, 1, 2  # fmt: skip


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The sum of an instant vector's samples; None while it has none."""
        result = self.query(expr)
        return sum(float(r["value"][1]) for r in result) if result else None

    def until(
        self, expr: str, ok: Callable[[float | None], bool], timeout: float = 45
    ) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            got = self.value(expr)
            if ok(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus: {expr} is {got} after {timeout:.0f}s")
            time.sleep(0.5)


def _start_prometheus(tmp: Path, target: str) -> Prometheus:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed (apt-get install prometheus; .ci/run does)")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    config = tmp / "prometheus.yml"
    config.write_text(  # JSON is YAML
        json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [{"job_name": "livegate", "static_configs": [{"targets": [target]}]}],
        })
    )  # fmt: skip
    port = free_port()
    log = tmp / "prometheus.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return prom
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"prometheus not ready: {log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def monitored(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Pipeline, Prometheus]]:
    tmp = tmp_path_factory.mktemp("prometheus")
    if shutil.which("prometheus") is None:
        _start_prometheus(tmp, "unused")  # skips, or fails in CI
    p = start_pipeline(stack_env, LIVEGATE_LOG_FORMAT="json")
    prom = None
    try:
        prom = _start_prometheus(tmp, f"127.0.0.1:{p.workers[0].web_port}")
        yield p, prom
    finally:
        if prom is not None:
            prom.proc.terminate()
            try:
                prom.proc.wait(20)
            except subprocess.TimeoutExpired:
                prom.proc.kill()
                prom.proc.wait(10)
        for w in p.workers:
            w.stop()


def _creator(p: Pipeline, tag: str) -> str:
    return f"pm-{tag}-{p.uid}"


def _send_live(p: Pipeline, round_: int) -> None:
    """Unqualified health streams (enforce), gaming streams (allow), and one record that is
    not JSON (dead letter)."""
    live: list[tuple[bytes | None, bytes | dict[str, Any]]] = []
    for i in range(3):
        bad, ok = _creator(p, f"nocert{i}"), _creator(p, f"gamer{i}")
        live.append((bad.encode(), event("stream_started", bad, f"{bad}-r{round_}",
                                         stream_id=f"s{round_}", category="health")))  # fmt: skip
        live.append((ok.encode(), event("stream_started", ok, f"{ok}-r{round_}",
                                        stream_id=f"s{round_}", category="gaming")))  # fmt: skip
    live.append((_creator(p, "junk").encode(), b"{not json"))
    asyncio.run(produce(p.settings, p.settings.topics.live, live))


def _send_grant(p: Pipeline) -> None:
    """A certification grant as another service would publish it on certification.changes."""
    doc = _creator(p, "doc")
    t = now_ms()
    change = grant_fields(doc, "health", f"L-{doc}", "NHC", t - 1000, t + YEAR, "physician", t)
    asyncio.run(produce(p.settings, p.settings.topics.certs, [(doc.encode(), change)]))


def at_least(n: float) -> Callable[[float | None], bool]:
    return lambda v: v is not None and v >= n


@pytest.fixture(scope="module")
def flowed(monitored: tuple[Pipeline, Prometheus]) -> tuple[Pipeline, Prometheus]:
    """The grant first (it moves the cache epoch), then one round of live traffic."""
    p, prom = monitored
    _send_grant(p)
    prom.until('livegate_cert_changes_applied_total{result="applied"}', at_least(1))
    prom.until('livegate_events_decided_total{kind="certs"}', at_least(1))
    _send_live(p, 1)
    prom.until('livegate_events_decided_total{kind="live"}', at_least(6))
    return p, prom


def test_prometheus_scrapes_the_worker_and_faust_sensor(monitored: tuple[Pipeline, Prometheus]):
    _, prom = monitored
    assert prom.until('up{job="livegate"}', lambda v: v == 1) == 1
    # Faust's own sensor: assignment done, rebalance latency observed, commit latency.
    prom.until("faust_assignment_operations_total", lambda v: v is not None and v >= 1)
    prom.until("faust_rebalance_done_latency_count", lambda v: v is not None and v >= 1)
    # Unlabelled LiveGate series exist before any event.
    for name in ("livegate_decision_latency_seconds_count", "livegate_redis_round_trips_total",
                 "livegate_batch_size_count"):  # fmt: skip
        assert prom.value(name) is not None, name


def test_series_appear_and_move_when_events_flow(flowed: tuple[Pipeline, Prometheus]):
    p, prom = flowed
    prom.until('livegate_events_decided_total{kind="live", outcome="enforce"}', at_least(3))
    prom.until('livegate_events_decided_total{kind="live", outcome="allow"}', at_least(3))
    prom.until('livegate_actions_total{action="cut_off_stream", rule="live.unqualified"}',
               at_least(3))  # fmt: skip
    prom.until('livegate_dead_letters_total{error="invalid_json"}', at_least(1))
    prom.until("livegate_decision_latency_seconds_count", at_least(7))
    prom.until("livegate_redis_lookup_seconds_count", at_least(2))
    prom.until("livegate_redis_round_trips_total", at_least(3))  # apply (read, write), lookups
    prom.until('livegate_cert_cache_total{result="miss"}', at_least(7))
    live = p.settings.topics.live
    prom.until(f'faust_topic_partition_offset_commited{{topic="{live}"}}', at_least(7))
    prom.until(f'faust_messages_received_per_topic_total{{topic="{live}"}}', at_least(7))

    consumed = prom.until('livegate_records_consumed_total{kind="live"}', at_least(7))
    hits = prom.value('livegate_cert_cache_total{result="hit"}') or 0.0
    assert consumed is not None
    _send_live(p, 2)  # the same creators again: served from the cache
    prom.until('livegate_records_consumed_total{kind="live"}', at_least(consumed + 7))
    prom.until('livegate_cert_cache_total{result="hit"}', at_least(hits + 6))
    prom.until('livegate_dead_letters_total{error="invalid_json"}', at_least(2))
    prom.until('livegate_events_decided_total{kind="live", outcome="enforce"}', at_least(6))
    # What the dashboard and the alerts compute from them.
    assert (prom.value('sum(rate(livegate_records_consumed_total{kind="live"}[1m]))') or 0) > 0
    p99 = prom.value(
        "histogram_quantile(0.99, sum by (le) (rate(livegate_decision_latency_seconds_bucket[1m])))"
    )
    assert p99 is not None and 0 < p99 < 30
    ratio = prom.value(
        'sum(rate(livegate_cert_cache_total{result="hit"}[1m]))'
        " / sum(rate(livegate_cert_cache_total[1m]))"
    )
    assert ratio is not None and 0 < ratio < 1
    lag = prom.value(
        f'sum(faust_topic_partition_end_offset{{topic="{live}"}}'
        f' - faust_topic_partition_offset_commited{{topic="{live}"}})'
    )
    assert lag is not None and lag >= 0


def test_labels_come_from_fixed_sets_never_creator_ids(flowed: tuple[Pipeline, Prometheus]):
    p, prom = flowed
    series = prom.api("series", **{"match[]": '{__name__=~"livegate_.+"}'})
    assert len(series) >= 10
    for labels in series:
        assert set(labels) <= ALLOWED_LABELS, labels
        for value in labels.values():
            assert p.uid not in value and "pm-" not in value, labels


def test_alert_rules_load_and_stay_quiet_on_a_healthy_worker(
    flowed: tuple[Pipeline, Prometheus],
):
    _, prom = flowed
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
    names = {r["name"] for r in rules}
    assert {"LiveGateWorkerDown", "LiveGateNoWorkers", "LiveGateDeadLetterRate",
            "LiveGateDecisionLatencyHigh", "LiveGateConsumerLag",
            "LiveGateRedisErrors"} <= names  # fmt: skip
    deadline = time.monotonic() + 15
    while any(r.get("health") != "ok" for r in rules) and time.monotonic() < deadline:
        time.sleep(1)  # a rule is "unknown" until its first evaluation
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    firing = [a for a in prom.api("alerts")["alerts"] if a["labels"]["alertname"] in
              {"LiveGateWorkerDown", "LiveGateNoWorkers", "LiveGateRedisErrors"}]  # fmt: skip
    assert firing == []


def test_decisions_are_logged_as_json_lines_with_event_and_rule(
    flowed: tuple[Pipeline, Prometheus],
):
    p, _ = flowed
    bad = _creator(p, "nocert0")
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(x) for x in p.workers[0].log_path.read_text().splitlines()
                 if x.startswith("{")]  # fmt: skip
        mine = [x for x in lines if x.get("event_id") == f"{bad}-r1"]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert mine, lines[-5:]
    line = mine[0]
    assert line["logger"] == "livegate.decisions" and line["level"] == "INFO"
    assert line["outcome"] == "enforce" and "live.unqualified" in line["rule_ids"]
    assert "cut_off_stream" in line["actions"] and line["creator"] == bad
    # Allow decisions are DEBUG: not logged by a worker at --loglevel info.
    assert not [x for x in lines if x.get("outcome") == "allow"]


def test_dashboard_renders_from_prometheus(flowed: tuple[Pipeline, Prometheus]):
    pytest.importorskip("matplotlib")
    from pipeline.ops.dashplot import render

    _, prom = flowed
    out = render(prom.url, ARTIFACTS / "prometheus-dashboard.png", minutes=2, step=1,
                 rate_interval="10s")  # fmt: skip
    assert out.stat().st_size > 20_000
