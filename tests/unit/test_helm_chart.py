"""The Helm chart (deploy/helm/livegate): valid against the Kubernetes API schemas (and the
CRDs' structural schemas) for its default and production values, and what it runs is what
README "Production" says. Needs the helm binary (scripts/setup.sh builds it)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.adapters.settings import Settings
from pipeline.cli import build_parser
from pipeline.engine.faustconfig import SESSION_TIMEOUT_S, faust_options

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("chart_check", ROOT / "deploy/helm/check.py")
assert spec is not None and spec.loader is not None
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

HELM = check.helm_binary()
if HELM is None and os.environ.get("CI"):
    raise RuntimeError("helm is missing (scripts/setup.sh installs it)")
pytestmark = pytest.mark.skipif(HELM is None, reason="helm not installed (scripts/setup.sh)")


def rendered(*values: str) -> list[dict[str, Any]]:
    return check.render(HELM, list(values))


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests if m["kind"] == kind]
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


PRODUCTION = ("-f", str(ROOT / "deploy/helm/values-production.yaml"))


def test_every_manifest_is_valid_for_default_and_production_values():
    assert check.check(HELM) == []


def test_a_broken_manifest_is_named():
    scaled = one(rendered(*PRODUCTION), "ScaledObject")
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 5
    assert check.problems_of(scaled) == [
        "ScaledObject livegate-worker: $.spec.triggers[0].metadata.lagThreshold: "
        "5 is not of type 'string'"
    ]
    # The operators' own CRDs (vendored), as strict as kubectl --validate=strict.
    monitor = one(rendered(*PRODUCTION), "PodMonitor")
    monitor["spec"]["podMetricsEndpoints"][0]["scrapeIntervall"] = "5s"
    (problem,) = check.problems_of(monitor)
    assert "'scrapeIntervall' was unexpected" in problem
    job = one(rendered(), "Job")
    job["spec"]["template"]["spec"]["restartPolicy"] = {"no": 1}
    assert len(check.problems_of(job)) == len(check.KUBERNETES_VERSIONS)


def test_workers_are_replicated_advertise_their_pod_ip_and_keep_their_state():
    manifests = rendered(*PRODUCTION)
    sts = one(manifests, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    env = env_of(pod["containers"][0])
    assert env["LIVEGATE_REPLICATION_FACTOR"] == "3" and env["LIVEGATE_MIN_INSYNC_REPLICAS"] == "2"
    assert env["LIVEGATE_WEB_ADVERTISED_URL"] == "http://$(POD_IP):6066"
    assert env["LIVEGATE_GROUP_INSTANCE_ID"] == "$(POD_NAME)"
    assert env["LIVEGATE_DATA_DIR"] == "/var/lib/livegate/data"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    # A stopping worker finishes its batch, commits and leaves before it is killed.
    options = faust_options(Settings())
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > options["broker_commit_interval"] and grace > SESSION_TIMEOUT_S
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 900
    assert pod["securityContext"]["runAsUser"] == 10001
    # KEDA owns the replica count: at most one worker per partition.
    assert "replicas" not in sts["spec"]
    assert one(manifests, "ScaledObject")["spec"]["maxReplicaCount"] == 24
    assert one(manifests, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("setting", "refusal"),
    [
        ("worker.replicas=7", "worker.replicas (7) is more than kafka.partitions (6)"),
        # values.schema.json: a mistyped value is refused, not ignored
        ("kafka.replicationFactr=3", "additional properties 'replicationFactr' not allowed"),
    ],
)
def test_a_value_the_chart_cannot_honour_is_refused(setting: str, refusal: str):
    out = subprocess.run(
        [HELM, "template", "x", str(check.CHART), "--set", setting],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert refusal in out.stderr


def test_policy_and_alerts_are_the_repositorys():
    manifests = rendered(*PRODUCTION)
    policy = one(manifests, "ConfigMap")["data"]["policy.yaml"]
    assert policy == (ROOT / "config/policy.yaml").read_text(encoding="utf-8")
    text = (ROOT / "config/prometheus/alerts.yml").read_text(encoding="utf-8")
    base = "https://git.example.com/platform/livegate/blob/main"
    alerts = yaml.safe_load(text.replace('"docs/runbooks.md#', f'"{base}/docs/runbooks.md#'))
    groups = one(manifests, "PrometheusRule")["spec"]["groups"]
    assert groups == alerts["groups"]
    assert all(r["annotations"]["runbook_url"].startswith(base) for r in groups[0]["rules"])


def test_every_container_runs_a_livegate_subcommand():
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for manifests in (rendered(), rendered(*PRODUCTION)):
        for m in manifests:
            pod = m.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                assert "command" not in c, c["name"]  # the image's ENTRYPOINT: livegate
                assert c["args"][0] in commands, c["args"]
