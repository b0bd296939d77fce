"""`livegate console`: the reviewers' web page (CONTRACT §9), and its users file helpers."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import sys
from pathlib import Path

from aiokafka.errors import KafkaError

from pipeline.adapters import security
from pipeline.console.auth import (
    DEFAULT_ROLE,
    UsersFileError,
    hash_password,
    load_users,
    set_user_line,
    valid_reviewer_id,
)
from pipeline.console.config import ConsoleSettings, parse_proxies, read_review_sla
from pipeline.domain.errors import LiveGateError
from pipeline.domain.signing import ROLES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "console",
        help="the review console: a web page for reviewers (queue, creators, verdicts)",
        description="Serve the review console. Reviewers sign in with the secrets of the "
        "users file (LIVEGATE_CONSOLE_USERS or --users; lines reviewer_id:hash, made by "
        "`livegate console add-user`).",
    )
    p.add_argument("--users", type=Path, help="users file (default $LIVEGATE_CONSOLE_USERS)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1, $LIVEGATE_CONSOLE_HOST)")
    p.add_argument("--port", type=int, help="port (default 6070, $LIVEGATE_CONSOLE_PORT)")
    p.add_argument(
        "--trusted-proxy", metavar="ADDR[,ADDR]",
        help="the TLS-terminating proxy's address(es): X-Forwarded-For and X-Forwarded-Proto "
        "are honoured from these only (default none, $LIVEGATE_CONSOLE_TRUSTED_PROXY)",
    )  # fmt: skip
    p.set_defaults(handler=_serve)
    actions = p.add_subparsers(dest="console_command", metavar="ACTION")
    add = actions.add_parser("add-user", help="add a reviewer to the users file, or reset one")
    add.add_argument("reviewer_id")
    add.add_argument(
        "--users", type=Path, dest="users_file", help="default $LIVEGATE_CONSOLE_USERS"
    )
    add.add_argument("--password-stdin", action="store_true", help="read the secret from stdin")
    add.add_argument(
        "--role", choices=list(ROLES), default=DEFAULT_ROLE,
        help="reviewer: reviews only (default); senior: appeals too; admin: everything signed",
    )  # fmt: skip
    add.set_defaults(handler=_add_user)
    hp = actions.add_parser("hash-password", help="print the hash of a secret (for a users file)")
    hp.add_argument("--password-stdin", action="store_true", help="read the secret from stdin")
    hp.set_defaults(handler=_hash_password)


def _read_secret(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = getpass.getpass("secret: ")
        if getpass.getpass("again: ") != secret:
            raise LiveGateError("the two secrets differ")
    if len(secret) < 8:
        raise LiveGateError("a secret needs at least 8 characters")
    return secret


def _hash_password(args: argparse.Namespace) -> int:
    print(hash_password(_read_secret(args.password_stdin)))
    return 0


def _add_user(args: argparse.Namespace) -> int:
    path = args.users_file or (Path(os.environ["LIVEGATE_CONSOLE_USERS"]).expanduser()
                               if os.environ.get("LIVEGATE_CONSOLE_USERS") else None)  # fmt: skip
    if path is None:
        raise UsersFileError("no users file: give --users FILE or set LIVEGATE_CONSOLE_USERS")
    if not valid_reviewer_id(args.reviewer_id):
        raise LiveGateError(f"{args.reviewer_id!r}: a reviewer id is 1-64 of A-Z a-z 0-9 . _ @ -")
    encoded = hash_password(_read_secret(args.password_stdin))
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(set_user_line(text, args.reviewer_id, encoded, args.role))
    print(f"livegate console: {args.reviewer_id} can sign in as {args.role} ({path})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    cs = ConsoleSettings.from_env()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.users is not None:
        overrides["users_path"] = args.users
    if args.trusted_proxy is not None:
        overrides["trusted_proxies"] = parse_proxies(args.trusted_proxy, "--trusted-proxy")
    cs = dataclasses.replace(cs, **overrides)
    if cs.users_path is None:
        raise UsersFileError("no users file: give --users FILE or set LIVEGATE_CONSOLE_USERS")
    users = load_users(cs.users_path)
    sla = read_review_sla(cs.base.policy_path)
    security.preflight(cs.base)
    from pipeline.console.web import Console, serve

    console = Console(cs, users, sla)
    sla_note = "" if sla.from_policy else " (default: the policy file has no review.sla)"
    weak = users.weak()
    if weak:
        print(f"livegate console: warning: {', '.join(weak)} have secrets hashed with less "
              "work than today's (scrypt N=2^17): reset them with `livegate console add-user`",
              file=sys.stderr)  # fmt: skip

    def ready(url: str) -> None:
        print(
            f"livegate console: {url} ({len(users)} reviewers, queue {cs.queue_topic}, "
            f"verdicts to {cs.reviews_topic}, worker {cs.worker_url or 'none'}, "
            f"review.sla {sla.ms // 60_000}m{sla_note})",
            file=sys.stderr,
            flush=True,
        )

    try:
        asyncio.run(serve(console, cs.host, cs.port, ready))
    except KafkaError as exc:
        raise LiveGateError(f"Kafka at {cs.base.kafka_bootstrap}: {exc}") from None
    return 0
