"""`livegate policy check|diff|schema`: the policy file in CI and in editors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.adapters.policyfile import load_policy_file
from pipeline.domain.policydiff import changed_rules, policy_diff
from pipeline.domain.policyschema import policy_schema


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("policy", help="check, compare, or print the schema of policy files")
    psub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    check = psub.add_parser(
        "check", help="load FILE as the worker would: exit 0 `ok, policy VERSION`, "
        "or exit 1 with the line and the reason",
    )  # fmt: skip
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(handler=_check)
    diff = psub.add_parser(
        "diff", help="what changed from OLD to NEW: rules, numbers, keywords (both must load)"
    )
    diff.add_argument("old", type=Path, metavar="OLD")
    diff.add_argument("new", type=Path, metavar="NEW")
    diff.set_defaults(handler=_diff)
    schema = psub.add_parser(
        "schema", help="print the policy file's JSON Schema (config/policy.schema.json)"
    )
    schema.set_defaults(handler=_schema)


def _check(args: argparse.Namespace) -> int:
    policy = load_policy_file(args.file)
    print(f"ok, policy {policy.version}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    old, new = load_policy_file(args.old), load_policy_file(args.new)
    lines = policy_diff(old, new)
    if old.version == new.version:
        print(f"policy {new.version}: the same file")
        return 0
    if not lines:
        print(f"policy {old.version} → {new.version}: no change in meaning (comments or layout)")
        return 0
    print(f"policy {old.version} → {new.version}: {len(lines)} changes")
    for line in lines:
        print(f"  {line}")
    rules = changed_rules(lines)
    if rules:
        print(f"rules changed: {', '.join(rules)}")
    return 0


def schema_text() -> str:
    return json.dumps(policy_schema(), indent=2, ensure_ascii=False) + "\n"


def _schema(args: argparse.Namespace) -> int:
    print(schema_text(), end="")
    return 0
