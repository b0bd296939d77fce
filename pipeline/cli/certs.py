"""`livegate certs grant|revoke|show|import|rebuild`: the certification registry."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import msgspec

from pipeline.adapters.settings import Settings
from pipeline.adapters.textsafety import printable
from pipeline.adapters.times import HELP as TIME_HELP
from pipeline.adapters.times import format_ms, now_ms, parse_time
from pipeline.domain.certifications import is_qualified
from pipeline.ops.registry import (
    Registry,
    RegistryError,
    build_change,
    describe_cert,
    grant_fields,
    reconcile,
    revoke_fields,
)
from pipeline.ops.wording import check_ident


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("certs", help="the certification registry (Redis table + change log)")
    csub = p.add_subparsers(dest="certs_command", metavar="ACTION", required=True)

    g = csub.add_parser("grant", help="grant a qualification")
    g.add_argument("creator", help="the creator id")
    g.add_argument("domain", help="health, finance, law or education")
    g.add_argument(
        "--license", required=True, dest="license_id", metavar="ID", help="the license's id"
    )
    g.add_argument("--issuer", required=True, metavar="NAME", help="who issued the license")
    g.add_argument(
        "--valid-until",
        required=True,
        metavar="TIME",
        help=f"end of validity, exclusive. TIME: {TIME_HELP}",
    )
    g.add_argument("--valid-from", default=None, metavar="TIME", help="start (default: now)")
    g.add_argument("--profession", default=None, help="e.g. physician (default: none)")
    g.set_defaults(handler=_grant)

    r = csub.add_parser("revoke", help="revoke a qualification")
    r.add_argument("creator", help="the creator id")
    r.add_argument("domain", help="health, finance, law or education")
    r.add_argument("--reason", required=True, metavar="TEXT", help="why (kept in the history)")
    r.set_defaults(handler=_revoke)

    s = csub.add_parser("show", help="a creator's certifications")
    s.add_argument("creator", help="the creator id")
    s.add_argument("--json", action="store_true", help="raw JSON")
    s.set_defaults(handler=_show)

    i = csub.add_parser(
        "import",
        help="import a registry export (CSV; all rows or none)",
        description="Import a snapshot of the registry: header "
        "creator_id,domain,license_id,issuer,valid_from,valid_until,profession (any order; "
        "`,` or `;`; UTF-8, a BOM is fine), one row per (creator_id, domain). Its rows are "
        "changes as of --as-of or of each row's updated_at column, so a change made after "
        "the snapshot (a revocation) wins and importing the same file again changes nothing.",
    )
    i.add_argument("file", type=Path)
    i.add_argument(
        "--as-of", default=None, metavar="TIME",
        help="when the export was taken (default: each row's updated_at; one of the two is "
        f"required). TIME: {TIME_HELP}",
    )  # fmt: skip
    i.set_defaults(handler=_import)

    b = csub.add_parser("rebuild", help="restore the Redis table from certification.changes")
    b.set_defaults(handler=_rebuild)

    rc = csub.add_parser(
        "reconcile",
        help="compare the Redis table with certification.changes; repair and report",
        description="Compare every value of the Redis table with what the "
        "certification.changes history says (CONTRACT v2 §8) and report each difference. "
        "Where the table is behind (a Redis rollback lost a change) or unreadable, write the "
        "history's value by compare-and-set (the epoch moves, so caches re-read); a table "
        "value newer than the history is kept. Exit 0 when the table is consistent at the "
        "end, 1 when a difference remains (always, with differences, under --dry-run).",
    )
    rc.add_argument("--dry-run", action="store_true", help="report only, repair nothing")
    rc.set_defaults(handler=_reconcile)


def _grant(args: argparse.Namespace) -> int:
    now = now_ms()
    valid_from = parse_time(args.valid_from) if args.valid_from else now
    valid_until = parse_time(args.valid_until)
    if valid_until <= valid_from:
        # Name what the user typed: --valid-from is often the default (now).
        raise RegistryError(
            f"--valid-until {args.valid_until} is not after --valid-from {args.valid_from}"
            if args.valid_from
            else f"--valid-until {args.valid_until} is in the past (--valid-from defaults "
            f"to now, {format_ms(valid_from)}): give a later --valid-until"
        )
    fields = grant_fields(
        args.creator, args.domain, args.license_id, args.issuer, valid_from,
        valid_until, args.profession, now,
    )  # fmt: skip
    return _apply_one(fields)


def _revoke(args: argparse.Namespace) -> int:
    return _apply_one(revoke_fields(args.creator, args.domain, args.reason, now_ms()))


def _apply_one(fields: dict[str, object]) -> int:
    change = build_change(fields)
    result = asyncio.run(Registry(Settings.from_env()).apply_and_publish([change]))
    verb = "granted" if fields["type"] == "certification_granted" else "revoked"
    state = "applied" if result.changed else "ignored (a later change is already stored)"
    who = f"{fields['domain']} for {fields['creator_id']}"
    print(f"{verb} {who}: {state}; event {fields['event_id']}")
    return 0


def _say(line: str) -> None:
    """Print a line that carries stored text (licences, issuers, problems)."""
    print(printable(line))


def _show(args: argparse.Namespace) -> int:
    problem = check_ident(args.creator)
    if problem:
        raise RegistryError(problem)
    snapshot, problems = asyncio.run(Registry(Settings.from_env()).inspect(args.creator))
    if args.json:
        print(json.dumps(msgspec.to_builtins(snapshot), indent=2, sort_keys=True))  # ASCII
        return 0 if not problems else 1
    for domain, problem in sorted(problems.items()):
        if domain == "*":
            _say(f"{args.creator} UNREADABLE: {problem}: fix or delete it by hand")
        else:
            _say(f"{args.creator} {domain:<10} UNREADABLE: {problem} "
                 "(`livegate certs reconcile` rewrites it from the history)")  # fmt: skip
    if not snapshot:
        if not problems:
            _say(f"{args.creator}: no certifications")
        return 1 if problems else 0
    now = now_ms()
    for domain, cert in sorted(snapshot.items()):
        qualified = "QUALIFIED" if is_qualified(snapshot, domain, now) else "not qualified"
        _say(
            f"{args.creator} {domain:<10} {qualified:<13} status={cert.status} "
            f"license={cert.license_id} issuer={cert.issuer} profession={cert.profession} "
            f"valid {format_ms(cert.valid_from)} .. {format_ms(cert.valid_until)}"
        )
    return 1 if problems else 0


def _import(args: argparse.Namespace) -> int:
    as_of = parse_time(args.as_of) if args.as_of else None
    result = asyncio.run(Registry(Settings.from_env()).import_csv(args.file, as_of))
    print(f"imported {result.total} rows from {args.file}: {result.changed} changed the table")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    def progress(n: int) -> None:
        print(f"\rread {n} changes", end="", file=sys.stderr, flush=True)

    result = asyncio.run(Registry(Settings.from_env()).rebuild(progress))
    print(file=sys.stderr)
    print(f"rebuilt from {result.total} change records: {result.changed} applied; table loaded")
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    def progress(n: int) -> None:
        print(f"\rread {n} changes", end="", file=sys.stderr, flush=True)

    result = asyncio.run(reconcile(Settings.from_env(), not args.dry_run, progress))
    print(file=sys.stderr)
    for d in result.differences:
        table = f"unreadable ({d.unreadable})" if d.unreadable else describe_cert(d.table)
        outcome = "not repaired (--dry-run)" if args.dry_run else d.outcome
        print(f"{d.creator_id} {d.domain}: table has {table}; history says "
              f"{describe_cert(d.history)}: {outcome}")  # fmt: skip
    for key, problem in sorted(result.broken.items()):
        print(f"{key}: the key is not a hash ({problem}): fix or delete it by hand")
    repaired = sum(d.outcome == "repaired" for d in result.differences)
    print(
        f"compared the table with {result.changes} change records ({result.slots} creator "
        f"domains): {len(result.differences)} difference(s), {repaired} repaired"
    )
    return 0 if result.consistent and not (args.dry_run and result.differences) else 1
