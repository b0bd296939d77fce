"""`livegate policy check|diff|schema`: the policy file in CI and in editors; and (v3,
CONTRACT §10) `livegate policy activate|history|show`: versions activated at an event time
on `enforcement.policies`."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from pipeline.adapters.policyfile import load_policy_file
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import HELP as TIME_HELP
from pipeline.adapters.times import format_ms, now_ms, parse_time
from pipeline.domain.activation import LEAD_MS, Activation, new_activation
from pipeline.domain.errors import LiveGateError
from pipeline.domain.platforms import DEFAULT, merged_document
from pipeline.domain.policy import Policy
from pipeline.domain.policydiff import changed_rules, overlay_changes, platform_diffs, policy_diff
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
    activate = psub.add_parser(
        "activate",
        help="check FILE and publish it as a new version in force from --at (an event time)",
        description="Checks FILE as `policy check` does and publishes it to "
        "enforcement.policies as an activation in force for events from --at on (by their "
        "version clock: the earlier of ts and the record's Kafka timestamp). Refused, with "
        "nothing published, when FILE is invalid or --at is not later than now and than the "
        f"latest activation's effective_from. TIME: {TIME_HELP}.",
    )
    activate.add_argument("file", type=Path, metavar="FILE")
    activate.add_argument("--at", metavar="TIME", default=None,
                          help="effective_from (default: one minute from now)")  # fmt: skip
    activate.add_argument("--by", metavar="WHO", default=None,
                          help="activated_by (default: $USER@host)")  # fmt: skip
    activate.set_defaults(handler=_activate)
    history = psub.add_parser("history", help="the activated versions with their times")
    history.set_defaults(handler=_history)
    show = psub.add_parser("show", help="print the policy in force now (or --version V)")
    show.add_argument(
        "--version",
        default=None,
        metavar="V",
        help="a version of the history (default: the one in force now)",
    )
    show.add_argument(
        "--platform",
        default=None,
        metavar="P",
        help="the policy platform P is decided by: the base with P's overlay merged "
        "(CONTRACT §11; an unknown platform is decided by the base; default: the whole file)",
    )
    show.add_argument(
        "--file", type=Path, default=None, metavar="FILE",
        help="show FILE instead of an activation (no broker needed; default: the activation)",
    )  # fmt: skip
    show.add_argument("--json", action="store_true", help="the activation and policy as JSON")
    show.set_defaults(handler=_show)
    from pipeline.cli import sweep  # CONTRACT §11

    sweep.register(psub)


class ActivationRefused(LiveGateError):
    pass


def _activate(args: argparse.Namespace) -> int:
    from pipeline.engine.activations import publish, read_activations

    policy = checked(args.file)  # refuses an invalid file, with the line
    settings = Settings.from_env()
    now = now_ms()
    at = parse_time(args.at, now) if args.at is not None else now + LEAD_MS
    if at <= now:
        raise ActivationRefused(
            f"--at {format_ms(at)} ({at}) is not later than now ({format_ms(now)}): an "
            "activation cannot change how events already decided were decided; nothing published"
        )
    found, _ = asyncio.run(read_activations(settings))
    if found:
        latest = max(found, key=lambda a: a.effective_from)
        if at <= latest.effective_from:
            raise ActivationRefused(
                f"--at {format_ms(at)} ({at}) is not later than the latest activation's "
                f"effective_from ({format_ms(latest.effective_from)}, version "
                f"{latest.policy_version}); nothing published"
            )
    a = new_activation(policy.text, at, args.by or _who(), now)
    asyncio.run(publish(settings, a))
    print(f"activated policy {a.policy_version} from {format_ms(at)} ({at}): {a.activation_id}")
    return 0


def _who() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _in_force(found: list[Activation], clock: int) -> Activation | None:
    current = None
    for a in found:  # in order: the last one at or before the clock wins
        if a.effective_from <= clock:
            current = a
    return current


def _history(args: argparse.Namespace) -> int:
    from pipeline.engine.activations import read_activations

    settings = Settings.from_env()
    found, bad = asyncio.run(read_activations(settings))
    current = _in_force(found, now_ms())
    if not found:
        print(f"no activation on {settings.topics.policies}")
    for a in found:
        mark = "*" if a is current else " "
        print(f"{mark} {a.policy_version}  effective {format_ms(a.effective_from)} "
              f"({a.effective_from})  activated {format_ms(a.activated_at)} by "
              f"{a.activated_by}")  # fmt: skip
    for key, why in sorted(bad.items()):
        print(f"! {key}: unusable: {why}")
    return 0


def _show(args: argparse.Namespace) -> int:
    if args.file is not None:
        return _show_policy(load_policy_file(args.file), args.platform, args.json, {})
    from pipeline.engine.activations import read_activations

    settings = Settings.from_env()
    found, _ = asyncio.run(read_activations(settings))
    if args.version is not None:
        chosen = [a for a in found if a.policy_version == args.version]
        if not chosen:
            raise LiveGateError(f"no activation of version {args.version} on "
                                f"{settings.topics.policies}")  # fmt: skip
        a = chosen[-1]
    else:
        current = _in_force(found, now_ms())
        if current is None:
            raise LiveGateError(f"no activation in force on {settings.topics.policies}")
        a = current
    if not args.json and args.platform is None:
        print(a.text, end="" if a.text.endswith("\n") else "\n")
        return 0
    head = {
        "activation_id": a.activation_id, "policy_version": a.policy_version,
        "effective_from": a.effective_from, "activated_by": a.activated_by,
        "activated_at": a.activated_at,
    }  # fmt: skip
    from pipeline.domain.policy import load_policy

    return _show_policy(load_policy(a.text, a.activation_id), args.platform, args.json, head)


def _show_policy(policy: Policy, platform: str | None, as_json: bool, head: dict[str, object]
                 ) -> int:  # fmt: skip
    """The policy, or with `platform` the merged policy that platform is decided by."""
    import yaml

    from pipeline.domain.yamlcheck import parse

    data = parse(policy.text, policy.source)[0]
    if platform is None:
        doc: dict[str, object] = data
    else:
        doc = merged_document(data, platform)
    if as_json:
        body = {**head, "policy_version": policy.version, "platform": platform or DEFAULT,
                "policy": doc}  # fmt: skip
        print(json.dumps(body, indent=2, ensure_ascii=False, default=str))
        return 0
    if platform is None:
        print(policy.text, end="" if policy.text.endswith("\n") else "\n")
        return 0
    known = platform in policy.platforms
    print(f"# policy {policy.version}, as platform {platform} is decided by it"
          + ("" if known else " (no overlay: the base, `default`)"))  # fmt: skip
    for line in overlay_changes(policy, platform) if known else []:
        print(f"# overlay: {line}")
    print(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    policy = checked(args.file)
    names = ", ".join([DEFAULT, *policy.platforms])
    print(f"ok, policy {policy.version} (platforms: {names})")
    return 0


class MissingNotices(LiveGateError):
    pass


def checked(path: Path) -> Policy:
    """Load FILE as the worker would (every platform's merged policy with it) and refuse a
    v3 policy without its notices catalogue (CONTRACT §11): the loader still reads one, as
    the policy history holds texts written before v3."""
    policy = load_policy_file(path)
    if policy.notices is None:
        raise MissingNotices(
            f"{path}: no `notices:` catalogue; every rule and action needs a notice in zh-CN "
            "and en (CONTRACT §11)"
        )
    return policy


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
    per_platform = platform_diffs(old, new)
    if per_platform:
        print("what each platform is decided by, old → new (base and overlay merged):")
    for platform, changes in per_platform.items():
        print(f"  {platform}: {len(changes)} changes")
        for line in changes:
            print(f"    {line}")
    return 0


def schema_text() -> str:
    return json.dumps(policy_schema(), indent=2, ensure_ascii=False) + "\n"


def _schema(args: argparse.Namespace) -> int:
    print(schema_text(), end="")
    return 0
