# PYTHON_ARGCOMPLETE_OK
"""`livegate`: one entry point, one module per command group."""

from __future__ import annotations

import argparse
import logging
import re
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
    "policy",
    "exempt",
    "health",
    "explain",
    "console",
)


EPILOG = """\
configuration comes from the environment (README "Configuration" lists every variable):
  LIVEGATE_KAFKA_BOOTSTRAP  Kafka bootstrap servers (default 127.0.0.1:9092)
  LIVEGATE_REDIS_URL        Redis (default redis://127.0.0.1:6379/0)
  LIVEGATE_REDIS_PREFIX, LIVEGATE_TOPIC_<NAME>, LIVEGATE_APP_ID, LIVEGATE_POLICY,
  LIVEGATE_WEB_PORT, LIVEGATE_KAFKA_SECURITY_PROTOCOL, LIVEGATE_KAFKA_SASL_*, ...

TIME values: YYYY-MM-DD, RFC 3339 with an offset, integer milliseconds, now, now-24h, -7d.
shell completion (bash, zsh): eval "$(register-python-argcomplete livegate)"
"""


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it, or the
    option is a flag (off by default) or has no default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or not action.option_strings
            or action.required
            or default in (None, False, True, argparse.SUPPRESS)
            or default == []
            or action.nargs == 0
        ):
            return text
        return f"{text} (default: %(default)s)"


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("livegate")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    from pipeline.cli import certs, stack

    parser = argparse.ArgumentParser(
        prog="livegate",
        description="LiveGate: real-time compliance enforcement for live streams.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and the drivers' own connection errors")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"livegate {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (stack, certs, *_optional_modules()):
        module.register(sub)
    for child in _subparsers(parser):
        child.formatter_class = HelpFormatter
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.append(child)
                found.extend(_subparsers(child))
    return found


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


TIME_OPTIONS = frozenset({"--from", "--to", "--since", "--valid-from", "--valid-until", "--as-of"})
_RELATIVE_PAST = re.compile(r"^-\d+[smhdwSMHDW]$")


def join_relative_times(argv: Sequence[str]) -> list[str]:
    """`--from -7d` as `--from=-7d`: argparse takes a value starting with '-' for an option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in TIME_OPTIONS and _RELATIVE_PAST.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        import argcomplete
    except ImportError:  # completion is a convenience; the command works without it
        pass
    else:
        argcomplete.autocomplete(parser)
    args = parser.parse_args(join_relative_times(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pipeline.adapters import security
    from pipeline.cli import errors

    # No secret in any log line; aiokafka's per-connection auth errors are reported once,
    # clearly, below (README "Security").
    security.guard_logging(drop_auth_noise=not args.verbose)
    if not args.verbose:
        errors.quiet_connect_noise()
    handler: Handler = args.handler
    try:
        return handler(args)
    except LiveGateError as exc:
        return _error(security.describe(exc) or str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Refused credentials surface from the drivers as connection errors: say which.
        # and an unreachable service, whatever the driver calls it, in one line.
        reason = security.describe(exc) or errors.unreachable(exc)
        if reason is None and not isinstance(exc, ConnectionError | OSError):
            raise
        return _error(reason or str(exc))


def _error(message: str) -> int:
    from pipeline.adapters import security
    from pipeline.adapters.textsafety import printable_lines

    # An error may quote stored text (a CSV cell, a record's field): escaped like any print.
    print(f"livegate: error: {printable_lines(security.scrub(message))}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
