"""`livegate stack up|down|status`: the local Kafka broker and Redis server."""

from __future__ import annotations

import argparse

from pipeline.adapters.settings import Settings
from pipeline.ops.stack import LocalStack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stack", help="the local Kafka (KRaft) broker and Redis server")
    ssub = p.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    up = ssub.add_parser("up", help="start Kafka and Redis (idempotent) and create the topics")
    up.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions per topic (default: LIVEGATE_PARTITIONS, 6)",
    )
    up.add_argument(
        "--secure",
        action="store_true",
        help="Kafka with SASL/SCRAM over TLS and Redis with an ACL user; certificates and "
        "passwords are generated into the stack directory (use its own LIVEGATE_STACK_DIR "
        "and ports)",
    )
    up.set_defaults(handler=_up)
    down = ssub.add_parser("down", help="stop what `up` started; data is kept")
    down.add_argument("--wipe", action="store_true", help="also delete the stack's data")
    down.set_defaults(handler=_down)
    status = ssub.add_parser("status", help="what runs, where, with pids and ports")
    status.set_defaults(handler=_status)


def _up(args: argparse.Namespace) -> int:
    stack = LocalStack(Settings.from_env())
    for note in stack.up(partitions=args.partitions, secure=args.secure):
        print(note)
    code = _status(args)
    print("connect with:")
    for line in stack.connect_env():
        print(f"  {line}")
    return code


def _down(args: argparse.Namespace) -> int:
    notes = LocalStack(Settings.from_env()).down(wipe=args.wipe)
    print("\n".join(notes) if notes else "nothing was running")
    return 0


def _status(args: argparse.Namespace) -> int:
    stack = LocalStack(Settings.from_env())
    rows = stack.status()
    for row in rows:
        state = f"running  pid {row.pid}" if row.running else "stopped"
        print(f"{row.name:<6} {state:<18} {row.address:<28} data {row.data_dir}")
    if stack.secure:
        # The passwords are never printed: only where they are.
        print(f"secure: SASL_SSL (SCRAM-SHA-512) and Redis ACL; CA {stack.ca_file}")
        print(f"secrets {stack.secrets_file} (mode 0600, not shown)")
    return 0 if all(r.running for r in rows) else 3
