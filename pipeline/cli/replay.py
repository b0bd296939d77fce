"""`livegate replay verify|whatif`: audit replays of the decision log."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pipeline.adapters.policyfile import load_policy_file
from pipeline.adapters.settings import Settings
from pipeline.adapters.textsafety import printable_lines
from pipeline.adapters.times import format_ms, now_ms, parse_time


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("replay", help="audit replays: verify the decision log, what-if backtests")
    rsub = p.add_subparsers(dest="replay_command", metavar="SUBCOMMAND", required=True)

    v = rsub.add_parser(
        "verify",
        help="re-decide every recorded decision of a period and check the hash chains",
        description="Re-decide every decision whose event_ts is in [--from, --to) with its "
        "recorded event, policy (from enforcement.policies), certification snapshot, state "
        "and decided_at, and compare with the record and enforcement.actions; check the hash "
        "chains and each snapshot against certification.changes. Exit 1 on any mismatch or "
        "break (stale snapshots are warnings). The topics come from LIVEGATE_TOPIC_*.",
    )
    _period(v)
    v.add_argument(
        "--policy",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a policy text to use besides the policy history (repeatable; default: none)",
    )
    v.add_argument(
        "--grace-ms",
        type=int,
        default=1000,
        help="a snapshot that only misses a certification change made this close to "
        "the decision is in flight, not stale (default: %(default)s)",
    )
    v.add_argument("--max-shown", type=int, default=200, help="findings listed per kind")
    _progress(v)
    v.set_defaults(handler=_verify)

    w = rsub.add_parser(
        "whatif",
        help="the period's recorded events through a candidate policy; report what changes",
        description="Decide the period's recorded events with a candidate policy, "
        "certifications as of each event's time (from certification.changes) and creator "
        "state rebuilt from the period's start. Emits nothing; writes whatif.md, whatif.csv "
        "and (when something changes) whatif.png to --out.",
    )
    w.add_argument("--policy", required=True, type=Path, metavar="FILE", help="candidate policy")
    _period(w)
    w.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report directory (default ./whatif-<candidate version>)",
    )
    w.add_argument(
        "--effective-from",
        default=None,
        metavar="TIME",
        help="the candidate decides only events whose version clock is at or after TIME, "
        "the others the version in force then, as `policy activate --at TIME` would "
        "(default: every event of the period)",
    )
    w.add_argument("--examples", type=int, default=10, help="examples per section")
    w.add_argument(
        "--no-drift", action="store_true", help="skip the rebuild check with the recorded policies"
    )
    _progress(w)
    w.set_defaults(handler=_whatif)


def _period(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="TIME",
        help="period start, inclusive, by event time (the decisions' event_ts, not decided_at)",
    )
    p.add_argument(
        "--to",
        dest="end",
        default=None,
        metavar="TIME",
        help="period end, exclusive, by event time (default: now)",
    )


def _progress(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show the progress bar (default: when stderr is a terminal)",
    )
    g.add_argument("--no-progress", dest="progress", action="store_false")


def _times(args: argparse.Namespace) -> tuple[int, int]:
    start = parse_time(args.start)
    end = parse_time(args.end) if args.end else now_ms()
    if end <= start:
        raise SystemExit(f"livegate: error: --to {format_ms(end)} is not after --from")
    return start, end


def _verify(args: argparse.Namespace) -> int:
    from pipeline.replay.log import load_inputs
    from pipeline.replay.report import verify_text
    from pipeline.replay.verify import Verifier

    start, end = _times(args)
    settings = Settings.from_env()
    inputs = asyncio.run(load_inputs(settings, args.policy, args.progress, period=(start, end)))
    report = Verifier(inputs, start, end, args.grace_ms, args.progress).run()
    sys.stdout.write(printable_lines(verify_text(report, args.max_shown)))
    return 0 if report.ok else 1


def _whatif(args: argparse.Namespace) -> int:
    from pipeline.replay.log import load_inputs
    from pipeline.replay.report import whatif_markdown, write_whatif
    from pipeline.replay.whatif import whatif

    start, end = _times(args)
    settings = Settings.from_env()
    candidate = load_policy_file(args.policy)
    inputs = asyncio.run(load_inputs(settings, [], args.progress))
    effective = parse_time(args.effective_from) if args.effective_from is not None else None
    result = whatif(inputs, candidate, start, end, args.progress, drift=not args.no_drift,
                    effective_from=effective)  # fmt: skip
    out = args.out or Path(f"whatif-{candidate.version}")
    written = write_whatif(result, out, args.examples)
    sys.stdout.write(printable_lines(whatif_markdown(result, args.examples)))
    print(f"\nreport: {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0
