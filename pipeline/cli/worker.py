"""`livegate worker`: one stream-processing worker; run several for more throughput."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import logging
import socket
import sys

from pipeline.adapters import kafka, security
from pipeline.adapters.logs import logging_config
from pipeline.adapters.policyfile import load_policy_file
from pipeline.adapters.settings import Settings
from pipeline.cli.errors import require_services
from pipeline.domain.errors import LiveGateError
from pipeline.engine.faustconfig import changelog_topics
from pipeline.ops.registry import warn_if_table_behind


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run one stream-processing worker (Faust)")
    p.add_argument("--web-port", type=int, default=None, help="HTTP port (default 6066)")
    p.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.web_port is not None:
        settings = dataclasses.replace(settings, web_port=args.web_port)
    policy = load_policy_file(settings.policy_path)
    # A second worker on the same host would otherwise die in aiohttp, 60 lines deep.
    check_port_free(settings.web_host, settings.web_port)
    # Refused credentials stop the worker here, in one line, before Faust starts.
    security.preflight(settings)
    # An unreachable Redis at start is one line, not a worker that waits in silence.
    require_services(settings, kafka=False)
    asyncio.run(kafka.ensure_topics(settings, kafka.worker_topics(settings)))
    refuse_other_partition_counts(settings)
    warn_if_create_time(settings)
    # A Redis rolled back (failover, lost fsync) is not empty, only old: a cheap comparison
    # of the newest changes with the table says so in the log (`livegate certs reconcile`).
    asyncio.run(warn_if_table_behind(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    # Local tables ahead of their changelogs (a reset broker) would stop Faust at start.
    discard_stale_local_tables(settings)
    from agents.app import create_app  # Faust is imported only by the worker
    from pipeline.engine.faustconfig import use_event_loop

    # The loop first: the app binds the current loop when it is made (app.loop).
    use_event_loop(settings)
    asyncio.set_event_loop(asyncio.new_event_loop())
    app, _ = create_app(settings, policy)
    print(
        f"livegate worker: app {settings.app_id}, policy {policy.version}, "
        f"kafka {settings.kafka_bootstrap}, redis {settings.redis_url_redacted}, "
        f"web :{settings.web_port}",
        file=sys.stderr,
        flush=True,
    )
    if settings.dev_keys:
        # CONTRACT §12's keys have development defaults so that `make dev` and the tests
        # work out of the box; a deployment sets its own (README "Trust").
        print(
            f"livegate worker: WARNING: {' and '.join(settings.dev_keys)} not set: verdicts "
            "and decision records use the built-in development keys, which anyone can read "
            "in the source; set your own outside a local stack",
            file=sys.stderr,
            flush=True,
        )
    from pipeline.adapters import collector
    from pipeline.adapters.faust.worker import run_worker

    logging.getLogger("livegate").setLevel(logging.INFO)
    collector.tune()  # fewer, shorter collector pauses (adapters/collector.py)
    collector.observe()
    collector.settle()  # the modules and the app, long-lived: frozen before the first rebalance
    run_worker(app, args.loglevel, logging_config(settings.log_format, args.loglevel))
    return 0


def discard_stale_local_tables(settings: Settings) -> None:
    """Delete the worker's local table partitions that hold data past the end of their
    changelog in the broker (pipeline/adapters/faust/localtables.py), each said on stderr;
    Faust restores them from the changelog."""
    from pipeline.adapters.faust import localtables
    from pipeline.engine.faustconfig import changelog_names, faust_options

    tabledir = localtables.table_directory(settings.app_id, faust_options(settings))
    if not tabledir.is_dir():
        return
    changelogs = changelog_names(settings)
    try:
        ends = asyncio.run(kafka.end_offsets(settings, changelogs.values()))
    except Exception as exc:  # a check: Faust's own stops a worker that needs it
        print(f"livegate worker: the local tables were not checked against their "
              f"changelogs ({exc!r})", file=sys.stderr, flush=True)  # fmt: skip
        return
    for stale in localtables.stale_partitions(tabledir, changelogs, ends):
        localtables.discard(stale)
        print(f"livegate worker: WARNING: {stale}: deleted, to be restored from the "
              "changelog", file=sys.stderr, flush=True)  # fmt: skip


def warn_if_create_time(settings: Settings) -> None:
    """CONTRACT §12: the appeal window runs to the broker's append time on the reviews topic;
    a topic made before v3 keeps the producer's time until changed (README "Trust")."""
    reviews = [t for t in kafka.contract_topics(settings) if t.name == settings.topics.reviews]
    try:
        differences = asyncio.run(kafka.topic_differences(settings, reviews))
    except Exception:  # a check, not a reason to stop: an ACL may hide the configs
        return
    for d in differences:
        if d.what == "message.timestamp.type":
            print(
                f"livegate worker: WARNING: {d}: appeal windows run to a time its producers "
                f"set; kafka-configs --alter --entity-type topics --entity-name {d.topic} "
                "--add-config message.timestamp.type=LogAppendTime",
                file=sys.stderr,
                flush=True,
            )


def check_port_free(host: str, port: int) -> None:
    """Fail in one line if the web port is taken (the check binds as aiohttp will)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise LiveGateError(f"cannot use the web port {host}:{port}: {exc}") from None
            raise LiveGateError(
                f"the web port {host}:{port} is already in use (another worker?): "
                "set LIVEGATE_WEB_PORT or pass --web-port to use another one"
            ) from None


def refuse_other_partition_counts(settings: Settings) -> None:
    """Stop before Faust starts when a topic has another partition count than the settings:
    creators would be split across partitions the tables and decision chains do not share."""
    topics = [*kafka.worker_topics(settings), *changelog_topics(settings)]
    differences = asyncio.run(kafka.topic_differences(settings, topics, configs=False))
    counts = [d for d in differences if d.what == "partitions"]
    if counts:
        raise LiveGateError(
            "; ".join(str(d) for d in counts)
            + " (LIVEGATE_PARTITIONS): set it to the topics' count, or see `livegate topics create`"
        )
