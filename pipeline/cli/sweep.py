"""`livegate policy sweep`: apply a rule to the creators it concerns (CONTRACT §11)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from pipeline.adapters.policyfile import load_policy_file
from pipeline.adapters.settings import Settings
from pipeline.adapters.textsafety import printable
from pipeline.adapters.times import now_ms
from pipeline.domain.platforms import DEFAULT
from pipeline.domain.policy import Policy, load_policy


def register(psub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = psub.add_parser(
        "sweep",
        help="apply RULE to every creator of a platform it concerns (signed policy_sweep events)",
        description="Counts the creators RULE concerns on the platform (the workers' platform "
        "index crossed with the certification table), and unless --dry-run, or the count is "
        "over --max, produces one signed policy_sweep event per creator to moderation.reviews, "
        "decided like any event. The same sweep repeated (same rule, platform and policy "
        "version) repeats its event ids: it changes nothing. Signs with "
        "LIVEGATE_VERDICT_KEY_ID from LIVEGATE_VERDICT_KEYS.",
    )
    sweep.add_argument("--rule", required=True, metavar="RULE",
                       help="the rule to apply (commerce.medical_personnel)")  # fmt: skip
    sweep.add_argument("--platform", default=DEFAULT, metavar="P",
                       help="the platform whose creators are swept (default: default)")  # fmt: skip
    sweep.add_argument("--dry-run", action="store_true",
                       help="count and show, produce nothing (default: produce)")  # fmt: skip
    sweep.add_argument("--max", type=int, default=None, metavar="N",
                       help="refuse, producing nothing, when more than N creators are "
                       "concerned (default: no limit)")  # fmt: skip
    sweep.set_defaults(handler=_sweep)
    reindex = psub.add_parser(
        "reindex",
        help="rebuild, from the creator-state changelog, the platform index sweeps count from",
        description="Reads the workers' creator-state changelog to its end and adds every "
        "creator to its platform's set in Redis (<prefix>platform:<P>; default when its state "
        "names no platform), the index `policy sweep` counts creators from. Run it after Redis "
        "lost writes (a failover, a restore from an older snapshot, a flush): the workers add "
        "a creator only when its platform is first recorded. Idempotent; removes nothing.",
    )
    reindex.add_argument("--dry-run", action="store_true",
                         help="count what the changelog holds, add nothing")  # fmt: skip
    reindex.set_defaults(handler=_reindex)


def _policy_now(settings: Settings, now: int) -> Policy:
    """The version in force now (CONTRACT §10), else the worker's policy file."""
    from pipeline.cli.policy import _in_force
    from pipeline.engine.activations import read_activations

    found, _ = asyncio.run(read_activations(settings))
    current = _in_force(found, now)
    if current is None:
        return load_policy_file(settings.policy_path)
    return load_policy(current.text, source=f"activation {current.activation_id}")


def _sweep(args: argparse.Namespace) -> int:
    from pipeline.ops.sweep import SweepRefused, events, plan, produce

    settings = Settings.from_env()
    now = now_ms()
    policy = _policy_now(settings, now)
    p = asyncio.run(plan(settings, policy, args.rule, args.platform, now))
    print(f"sweep {p.sweep_id}: rule {p.rule_id} on platform {p.platform}, policy "
          f"{p.policy_version}: {len(p.creators)} creators concerned (on {p.platform}, "
          f"qualified for {p.domain})")  # fmt: skip
    if args.dry_run:
        print("dry run: nothing produced")
        return 0
    if args.max is not None and len(p.creators) > args.max:
        raise SweepRefused(
            f"{len(p.creators)} creators concerned, over --max {args.max}: nothing produced"
        )
    if not p.imposes:
        print(f"rule {p.rule_id} restricts nothing on {p.platform}: nothing produced")
        return 0
    bodies = events(p, now, settings.verdict_key)

    def progress(n: int) -> None:
        print(f"  {n} / {len(bodies)}", file=sys.stderr)

    sent = asyncio.run(produce(settings, bodies, progress))
    print(f"produced {sent} policy_sweep events to {settings.topics.reviews} "
          f"(event ids {p.sweep_id}:CREATOR)")  # fmt: skip
    return 0


def _reindex(args: argparse.Namespace) -> int:
    from pipeline.cli.errors import require_services
    from pipeline.ops import reindex

    settings = Settings.from_env()
    require_services(settings)  # before reading the whole changelog

    shown = [0.0]

    def progress(read: int, total: int) -> None:  # a line a second at most, and the last
        if read >= total or time.monotonic() - shown[0] >= 1.0:
            shown[0] = time.monotonic()
            print(f"  {read} / {total} changelog records", file=sys.stderr)

    found = asyncio.run(reindex.reindex(settings, args.dry_run, progress))
    print(f"{found.topic}: {found.creators} creators with a state")
    if found.unreadable:
        names = ", ".join(printable(c) for c in found.unreadable[:5])
        more = ", …" if len(found.unreadable) > 5 else ""
        print(f"  {len(found.unreadable)} states unreadable, not indexed: {names}{more}")
    for p, creators in sorted(found.by_platform.items()):
        before, after = found.before[p], found.after[p]
        print(f"  {printable(p)}: {len(creators)} in the changelog; index "
              f"{before} → {after} (+{after - before})")  # fmt: skip
    if args.dry_run:
        print("dry run: nothing added")
    return 0
