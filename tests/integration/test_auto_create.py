"""A broker that creates a topic when a client names it before it exists (Kafka's default,
`auto.create.topics.enable`), on its own local stack: what LiveGate asks before Faust starts
(partition counts, changelog end offsets, `livegate topics create`) creates nothing, so the
tables' changelogs are made by Faust, compacted, and not by the broker with its defaults (a
delete policy: creator state gone a week later, at the next restore). And, the stack being
new, `topics lag` before any group has used its coordinator."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.engine.faustconfig import changelog_names, changelog_topics
from tests.helpers import Worker, free_port, own_stack_env, run_cli

pytestmark = pytest.mark.integration


async def topic_names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def aiokafka_describe(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.describe_topics([name])
    finally:
        await admin.close()


def test_on_a_broker_creating_topics_on_first_use_changelogs_are_fausts_compacted(tmp_path):
    env = own_stack_env(
        tmp_path / "stack", LIVEGATE_KAFKA_AUTO_CREATE_TOPICS="1",
        LIVEGATE_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    bootstrap = env["LIVEGATE_KAFKA_BOOTSTRAP"]
    settings = Settings.from_env(env)
    changelogs = sorted(changelog_names(settings).values())
    worker = None
    try:
        up = run_cli(env, "stack", "up")
        assert up.returncode == 0, up.stderr
        # The broker does create what a client names (else this test would prove nothing).
        asyncio.run(aiokafka_describe(bootstrap, "probe-created-on-first-use"))
        for _ in range(50):  # the broker creates it in the background
            if "probe-created-on-first-use" in asyncio.run(topic_names(bootstrap)):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the broker did not create a topic named before it existed")

        # Every metadata question LiveGate asks of topics that may not exist yet.
        missing = [*changelogs, "probe-never-made"]
        assert asyncio.run(kafka.end_offsets(settings, missing)) == dict.fromkeys(missing)
        assert asyncio.run(kafka.partitions(settings, "probe-never-made")) == []
        assert asyncio.run(kafka.topic_differences(settings, changelog_topics(settings))) == []
        # `topics lag` on a cluster no group has used yet: its coordinator comes up meanwhile.
        lag = run_cli(env, "topics", "lag")
        assert lag.returncode == 0 and "group livegate: lag 0 records" in lag.stdout, lag.stderr
        created = run_cli(env, "topics", "create")
        assert created.returncode == 0, created.stdout + created.stderr
        time.sleep(2)  # as long as the probe's creation could take, and more
        assert not set(missing) & asyncio.run(topic_names(bootstrap))

        # A worker's first start: the checks before Faust, then Faust makes its changelogs.
        worker = Worker(env, free_port(), tmp_path / "worker.log").start()
        worker.wait_ready(120)
        assert set(changelogs) <= asyncio.run(topic_names(bootstrap))
        # cleanup.policy compact (the decided ids' compact,delete) and 2 partitions each.
        assert asyncio.run(kafka.topic_differences(settings, changelog_topics(settings))) == []
        # The group's lag, asked of a topic that does not exist.
        asyncio.run(kafka.group_lag(settings, settings.app_id, ["probe-never-made"]))
        time.sleep(2)
        assert "probe-never-made" not in asyncio.run(topic_names(bootstrap))
    finally:
        if worker is not None:
            worker.stop()
        run_cli(env, "stack", "down", "--wipe")
