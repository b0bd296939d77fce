"""`livegate certs grant|revoke|show|import|rebuild`: the certification registry."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import msgspec

from pipeline.adapters.settings import Settings
from pipeline.adapters.times import HELP as TIME_HELP
from pipeline.adapters.times import format_ms, now_ms, parse_time
from pipeline.domain.certifications import is_qualified
from pipeline.ops.registry import (
    Registry,
    RegistryError,
    build_change,
    grant_fields,
    revoke_fields,
)
from pipeline.ops.wording import check_ident


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("certs", help="the certification registry (Redis table + change log)")
    csub = p.add_subparsers(dest="certs_command", metavar="ACTION", required=True)

    g = csub.add_parser("grant", help="grant a qualification")
    g.add_argument("creator")
    g.add_argument("domain", help="health, finance, law or education")
    g.add_argument("--license", required=True, dest="license_id")
    g.add_argument("--issuer", required=True)
    g.add_argument("--valid-until", required=True, help="TIME (exclusive)")
    g.add_argument("--valid-from", default=None, help="TIME (default: now)")
    g.add_argument("--profession", default=None)
    g.set_defaults(handler=_grant)

    r = csub.add_parser("revoke", help="revoke a qualification")
    r.add_argument("creator")
    r.add_argument("domain")
    r.add_argument("--reason", required=True)
    r.set_defaults(handler=_revoke)

    s = csub.add_parser("show", help="a creator's certifications")
    s.add_argument("creator")
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
        help=f"when the export was taken (required unless the file has an updated_at column). "
        f"TIME: {TIME_HELP}",
    )  # fmt: skip
    i.set_defaults(handler=_import)

    b = csub.add_parser("rebuild", help="restore the Redis table from certification.changes")
    b.set_defaults(handler=_rebuild)


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


def _show(args: argparse.Namespace) -> int:
    problem = check_ident(args.creator)
    if problem:
        raise RegistryError(problem)
    snapshot = asyncio.run(Registry(Settings.from_env()).show(args.creator))
    if args.json:
        print(json.dumps(msgspec.to_builtins(snapshot), indent=2, sort_keys=True))
        return 0
    if not snapshot:
        print(f"{args.creator}: no certifications")
        return 0
    now = now_ms()
    for domain, cert in sorted(snapshot.items()):
        qualified = "QUALIFIED" if is_qualified(snapshot, domain, now) else "not qualified"
        print(
            f"{args.creator} {domain:<10} {qualified:<13} status={cert.status} "
            f"license={cert.license_id} issuer={cert.issuer} profession={cert.profession} "
            f"valid {format_ms(cert.valid_from)} .. {format_ms(cert.valid_until)}"
        )
    return 0


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
