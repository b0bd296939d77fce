"""Check the Helm chart offline: `helm lint --strict`, then every manifest `helm template`
renders (default values and values-production.yaml) against the Kubernetes API schemas of
the oldest and newest versions the chart supports (kubernetes-validate, strict: an unknown
field fails). KEDA's and the Prometheus operator's kinds are not in those schemas: they are
checked against their projects' published CRDs (crds/, vendored), made as strict.

    python deploy/helm/check.py [--helm PATH]      # exit 1 naming each problem

The helm binary: --helm, $LIVEGATE_HELM, .livegate/tools/helm (scripts/setup.sh), or PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHART = HERE / "livegate"
VALUES = {"default": [], "production": ["-f", str(HERE / "values-production.yaml")]}
# The chart's kubeVersion floor and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
# Files the chart ships as copies (a chart cannot read outside its folder).
COPIES = {
    CHART / "files" / "policy.yaml": ROOT / "config" / "policy.yaml",
    CHART / "files" / "alerts.yml": ROOT / "config" / "prometheus" / "alerts.yml",
}

# The CRDs of KEDA and of the Prometheus operator, as their projects publish them (vendored
# from their Go modules, see crds/SOURCES.md): the schema of each kind and version they serve.
CRDS = HERE / "crds"


def strict(schema: Any) -> Any:
    """The schema refusing unknown fields wherever it lists the known ones (as kubectl's
    --validate=strict does; the API server would drop such a field without a word)."""
    if isinstance(schema, dict):
        if (schema.get("type") == "object" and "properties" in schema
                and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):  # fmt: skip
            schema = {**schema, "additionalProperties": False}
        return {key: strict(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema


def crd_schemas() -> dict[str, dict[str, Any]]:
    """'group/version/Kind' -> the strict openAPIV3Schema of every vendored CRD."""
    out = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            out[f"{group}/{version['name']}/{kind}"] = strict(version["schema"]["openAPIV3Schema"])
    return out


CRD_SCHEMAS = crd_schemas()


def helm_binary(given: str | None = None) -> str | None:
    for candidate in (given, os.environ.get("LIVEGATE_HELM"), str(ROOT / ".livegate/tools/helm")):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("helm")


def render(helm: str, values: list[str]) -> list[dict[str, Any]]:
    out = subprocess.run(
        [helm, "template", "livegate", str(CHART), "--namespace", "livegate", *values],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"helm template failed: {out.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def problems_of(manifest: dict[str, Any]) -> list[str]:
    """What is wrong with one rendered manifest, for every supported Kubernetes version."""
    kind = f"{manifest.get('apiVersion')}/{manifest.get('kind')}"
    name = f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')}"
    if kind in CRD_SCHEMAS:
        validator = jsonschema.Draft4Validator(CRD_SCHEMAS[kind])  # OpenAPI v3.0's base
        return [f"{name}: {e.json_path}: {e.message}" for e in validator.iter_errors(manifest)]
    found = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(part) for part in exc.path)
            found.append(f"{name} (Kubernetes {version}): {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{name}: no schema for {kind} in Kubernetes {version}")
    return found


def check(helm: str) -> list[str]:
    found = [
        f"{copy.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: copy it again"
        for copy, source in COPIES.items()
        if copy.read_bytes() != source.read_bytes()
    ]
    for label, values in VALUES.items():
        lint = subprocess.run([helm, "lint", "--strict", str(CHART), *values],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if lint.returncode:
            found.append(f"helm lint ({label} values): {lint.stdout.strip()} {lint.stderr.strip()}")
            continue
        manifests = render(helm, values)
        problems = [f"{label} values: {p}" for m in manifests for p in problems_of(m)]
        if not problems:
            versions = " and ".join(KUBERNETES_VERSIONS)
            print(f"check-deploy: chart ({label} values): {len(manifests)} manifests valid "
                  f"for Kubernetes {versions}")  # fmt: skip
        found += problems
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--helm", help="the helm binary")
    helm = helm_binary(parser.parse_args().helm)
    if helm is None:
        print("check-deploy: helm not found (scripts/setup.sh installs it)", file=sys.stderr)
        return 2
    found = check(helm)
    for problem in found:
        print(f"check-deploy: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
