"""`livegate`: one entry point, one module per command group."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pipeline.domain.errors import LiveGateError

Handler = Callable[[argparse.Namespace], int]
# The command modules of pipeline/cli beside stack and certs, one a line.
COMMANDS = (
    "worker",
    "simulate",
    "tail",
    "dev",
    "replay",
    "bench",
    "benchengine",
    "breaker",
    "topics",
)


def build_parser() -> argparse.ArgumentParser:
    from pipeline.cli import certs, stack

    parser = argparse.ArgumentParser(
        prog="livegate",
        description="LiveGate: real-time compliance enforcement for live streams. "
        "Connection settings come from LIVEGATE_KAFKA_BOOTSTRAP and LIVEGATE_REDIS_URL.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (stack, certs, *_optional_modules()):
        module.register(sub)
    return parser


def _optional_modules() -> list[object]:
    import importlib

    found = []
    for name in COMMANDS:
        try:
            found.append(importlib.import_module(f"pipeline.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"pipeline.cli.{name}":
                raise
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pipeline.adapters import security

    # No secret in any log line; aiokafka's per-connection auth errors are reported once,
    # clearly, below (README "Security").
    security.guard_logging(drop_auth_noise=not args.verbose)
    handler: Handler = args.handler
    try:
        return handler(args)
    except LiveGateError as exc:
        return _error(security.describe(exc) or str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Refused credentials surface from the drivers as connection errors: say which.
        reason = security.describe(exc)
        if reason is None and not isinstance(exc, ConnectionError | OSError):
            raise
        return _error(reason or str(exc))


def _error(message: str) -> int:
    from pipeline.adapters import security

    print(f"livegate: error: {security.scrub(message)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
