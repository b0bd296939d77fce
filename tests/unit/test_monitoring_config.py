"""The monitoring and deployment files agree with the code: every metric an alert or a
dashboard panel reads exists, labels come from fixed sets, and docker-compose.yml wires
Prometheus, Grafana and scalable workers to the files in config/. (promtool and
`docker compose config` check syntax and alert behaviour in `make check-deploy`.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY, CollectorRegistry

import pipeline.adapters.metrics  # noqa: F401  (registers LiveGate's metrics)
from tests.conftest import ROOT

CONFIG = ROOT / "config"
DASHBOARD = CONFIG / "grafana" / "dashboards" / "livegate.json"
ALERTS = CONFIG / "prometheus" / "alerts.yml"
NAME = re.compile(r"\b((?:livegate|faust)_[a-z_]+)\b")
FIXED_LABELS = {"kind", "outcome", "action", "rule", "error", "result", "reason", "stage",
                "version", "generation"}  # fmt: skip
# `version`: livegate_policy_info's one series per worker (CONTRACT §10), the latest policy
# version it has read: one value at a time, the old series cleared. `generation`: the
# garbage collector's (0, 1, 2), livegate_gc_pause_seconds.


def exported_names() -> set[str]:
    from faust.sensors.prometheus import FaustMetrics

    names: set[str] = set()
    faust = CollectorRegistry()
    FaustMetrics.create(faust, "faust")
    for registry in (REGISTRY, faust):
        for family in registry.collect():
            names.add(family.name)  # a gauge with labels has no sample until set
            names.update(s.name for s in family.samples)
            if family.type == "counter":
                names.add(family.name + "_total")
            if family.type == "histogram":
                names.update(family.name + x for x in ("_bucket", "_count", "_sum"))
    return names


def dashboard_exprs() -> list[str]:
    spec = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in spec["panels"] for t in p["targets"]]


def alert_exprs() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


def test_every_metric_that_alerts_and_panels_read_is_exported():
    names = exported_names()
    for expr in dashboard_exprs() + alert_exprs():
        for name in NAME.findall(expr):
            assert name in names, f"{name} (in {expr!r}) is not exported"


def test_livegate_metrics_have_only_fixed_set_labels():
    for family in REGISTRY.collect():
        if family.name.startswith("livegate_"):
            collector = REGISTRY._names_to_collectors[family.name]  # type: ignore[attr-defined]
            labels = set(getattr(collector, "_labelnames", ()))
            assert labels <= FIXED_LABELS, (family.name, labels)


def test_dashboard_has_the_panels_operators_need():
    spec = json.loads(DASHBOARD.read_text())
    assert spec["uid"] == "livegate"
    ids = [p["id"] for p in spec["panels"]]
    assert len(ids) == len(set(ids))
    # Every selector is filtered by the dashboard's variables (namespace, app id).
    variables = 'namespace=~"$namespace", app_id=~"$app_id"'
    exprs = [e for e in dashboard_exprs() if "kafka_consumergroup_lag" not in e]
    for name in {n for e in exprs for n in NAME.findall(e)}:
        assert all(f"{name}{{{variables}" in e for e in exprs if name in e), name
    text = "\n".join(dashboard_exprs()).replace(variables + ", ", "").replace(variables, "")
    text = text.replace("{}", "")
    for needle in (
        "livegate_records_consumed_total",  # throughput per topic
        "sum by (action) (rate(livegate_actions_total",  # actions per type
        "histogram_quantile(0.5, sum by (le) (rate(livegate_decision_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(livegate_decision_latency_seconds_bucket",
        "livegate_dead_letters_total",
        "faust_topic_partition_end_offset - faust_topic_partition_offset_commited",  # lag
        'livegate_cert_cache_total{result="hit"}',  # cache hit ratio
        "livegate_redis_lookup_seconds_bucket",  # Redis latency
    ):
        assert needle in text, needle
    datasource = yaml.safe_load(
        (CONFIG / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    # The data source is a variable whose default is the provisioned one.
    (chosen,) = [v for v in spec["templating"]["list"] if v["type"] == "datasource"]
    assert chosen["current"]["value"] == datasource["uid"]
    assert {v["name"] for v in spec["templating"]["list"]} == {"datasource", "namespace", "app_id"}
    for panel in spec["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in [panel, *panel["targets"]]:
            assert target["datasource"]["uid"] == "${datasource}"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def mounts(service: dict) -> dict[str, str]:
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        out[target] = source
    return out


def test_compose_wires_kafka_redis_workers_prometheus_grafana_and_simulator():
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert "--appendonly" in services["redis"]["command"]
    worker = services["worker"]
    # `--scale worker=N`: no fixed name, no host port.
    assert "container_name" not in worker and "ports" not in worker
    assert services["simulator"]["profiles"] == ["sim"]
    prometheus = mounts(services["prometheus"])
    assert prometheus["/etc/prometheus"] == "./config/prometheus"
    grafana = mounts(services["grafana"])
    provider = yaml.safe_load(
        (CONFIG / "grafana" / "provisioning" / "dashboards" / "livegate.yml").read_text()
    )["providers"][0]
    assert grafana[provider["options"]["path"]] == "./config/grafana/dashboards"
    assert grafana["/etc/grafana/provisioning"] == "./config/grafana/provisioning"
    for source in [*prometheus.values(), *grafana.values()]:
        if source.startswith("./"):
            assert (ROOT / source).exists(), source


def test_prometheus_finds_every_worker_replica_on_its_web_port():
    config = yaml.safe_load((CONFIG / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "livegate")
    sd = job["dns_sd_configs"][0]
    assert sd["names"] == ["worker"] and sd["type"] == "A"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"LIVEGATE_WEB_PORT={sd['port']}" in dockerfile
    assert config["rule_files"] == ["alerts.yml"]
    assert (Path(CONFIG / "prometheus") / config["rule_files"][0]).exists()


def test_the_worker_health_check_asks_readyz_through_livegate_health():
    check = compose()["services"]["worker"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "livegate", "health"], check
    assert check[check.index("--url") + 1] == "http://127.0.0.1:6066/readyz"
    assert "LIVEGATE_WEB_PORT=6066" in (ROOT / "Dockerfile").read_text()
    assert "python -c" not in (ROOT / "docker-compose.yml").read_text()


def test_every_alert_has_a_runbook_section():
    runbooks = (ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8")
    headings = {
        line.lstrip("#").strip().lower().replace(" ", "-")
        for line in runbooks.splitlines()
        if line.startswith("## ")
    }
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            assert url == f"docs/runbooks.md#{rule['alert'].lower()}", url
            assert url.split("#")[1] in headings, rule["alert"]


def test_build_info_names_the_version():
    from importlib.metadata import version

    assert REGISTRY.get_sample_value("livegate_build_info", {"version": version("livegate")}) == 1
