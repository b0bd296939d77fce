"""`livegate topics create`: create the contract's topics and the worker's internal ones
where they are missing (what docker-compose's init service runs)."""

from __future__ import annotations

import argparse
import asyncio

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("topics", help="the Kafka topics of the contract")
    tsub = p.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    create = tsub.add_parser(
        "create", help="create the contract's and the worker's topics that do not exist yet"
    )
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    created = asyncio.run(kafka.ensure_topics(settings, kafka.worker_topics(settings)))
    for name in created:
        print(f"created {name}")
    print(f"topics: {len(created)} created at {settings.kafka_bootstrap}")
    return 0
