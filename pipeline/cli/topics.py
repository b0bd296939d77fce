"""`livegate topics create`: create the contract's topics and the worker's internal ones
where they are missing (what docker-compose's init service and the Helm chart's Job run),
and say how the existing ones differ from the settings (partitions, replication, configs)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.engine.faustconfig import changelog_topics


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("topics", help="the Kafka topics of the contract")
    tsub = p.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    create = tsub.add_parser(
        "create", help="create the contract's and the worker's topics that do not exist yet"
    )
    create.set_defaults(handler=_create)
    lag = tsub.add_parser(
        "lag",
        help="the worker group's lag per input partition, as the brokers report it "
        "(committed offsets against log end offsets)",
    )
    lag.add_argument("--json", action="store_true", help="one JSON object per partition")
    lag.set_defaults(handler=_lag)


def _create(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    topics = kafka.worker_topics(settings)
    created = asyncio.run(kafka.ensure_topics(settings, topics))
    for name in created:
        print(f"created {name}")
    print(f"topics: {len(created)} created at {settings.kafka_bootstrap}")
    # Faust creates the tables' changelogs when a worker starts; existing ones are compared.
    compared = [*topics, *changelog_topics(settings)]
    differences = asyncio.run(kafka.topic_differences(settings, compared))
    for difference in differences:
        print(f"differs: {difference}")
    if differences:
        # Kafka does not change these on its own: partitions only grow (and moving a
        # creator's partition breaks its order), replication needs a reassignment.
        print(
            f"topics: {len(differences)} differences from the settings; fix the topics "
            "(kafka-topics --alter, kafka-reassign-partitions, kafka-configs) or the settings "
            '(README "Production")',
            file=sys.stderr,
        )
        return 1
    return 0


def _lag(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    t = settings.topics
    inputs = [t.live, t.commerce, t.reports, t.reviews, t.certs,
              kafka.expiries_topic_name(settings)]  # fmt: skip
    rows = asyncio.run(kafka.group_lag(settings, settings.app_id, inputs))
    for row in rows:
        if args.json:
            print(json.dumps({**dataclasses.asdict(row), "lag": row.lag}))
        else:
            committed = "-" if row.committed is None else row.committed
            print(f"{row.topic}[{row.partition}]  committed {committed}  end {row.end}  "
                  f"lag {row.lag}")  # fmt: skip
    if not args.json:
        total = sum(r.lag for r in rows)
        print(f"group {settings.app_id}: lag {total} records on {len(rows)} partitions")
    return 0
