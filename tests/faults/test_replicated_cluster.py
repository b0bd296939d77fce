"""Production replication on a local three-broker KRaft cluster (tests/faults/cluster.py):
`livegate topics create` and the worker create every topic, Faust's changelogs included, at
replication 3 with min.insync.replicas 2, the brokers' offsets topic is at 3 too, and with one
broker stopped the worker goes on deciding (acks=all is met by the two left)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.adapters import kafka
from pipeline.adapters.settings import Settings
from pipeline.ops.stack import LocalStack
from tests.conftest import ROOT, isolated_env
from tests.faults.cluster import Cluster
from tests.helpers import (
    Worker,
    about,
    free_port,
    going_live_unqualified,
    produce,
    run_cli,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]


@pytest.fixture(scope="module")
def cluster(stack_env: dict[str, str]) -> Iterator[Cluster]:
    libs = LocalStack(Settings.from_env({**os.environ, **stack_env})).libs  # the stack's jars
    root = ROOT / ".livegate" / "test-cluster" / uuid.uuid4().hex[:8]
    c = Cluster(root, libs)
    try:
        c.start()
        asyncio.run(c.wait_for_brokers(3))
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


async def replicas_and_min_isr(bootstrap: str, topics: list[str]) -> dict[str, tuple[int, str]]:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = {e["topic"]: e for e in await admin.describe_topics(topics)}
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        )
    finally:
        await admin.close()
    isr = {r[3]: dict((e[0], e[1]) for e in r[4]) for c in configs for r in c.resources}
    return {
        t: (min(len(p["replicas"]) for p in described[t]["partitions"]),
            isr[t].get("min.insync.replicas", "?"))
        for t in topics
    }  # fmt: skip


async def test_every_topic_is_replicated_and_a_stopped_broker_stops_nothing(
    cluster: Cluster, stack_env: dict[str, str]
):
    uid = uuid.uuid4().hex[:10]
    env = {
        **isolated_env(stack_env, uid),
        "LIVEGATE_KAFKA_BOOTSTRAP": cluster.bootstrap,
        "LIVEGATE_REPLICATION_FACTOR": "3",
        "LIVEGATE_PARTITIONS": "3",
    }
    s = Settings.from_env(env)
    created = await asyncio.to_thread(run_cli, env, "topics", "create")
    assert created.returncode == 0, created.stdout + created.stderr
    with redis.Redis.from_url(s.redis_url.reveal()) as r:
        r.set(s.loaded_key, "1")
    log = ROOT / ".livegate" / "test-logs" / f"worker-{uid}-cluster.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    worker = Worker(env, free_port(), log).start()
    try:
        await asyncio.to_thread(worker.wait_ready, 180)
        first, second = f"rf-{uid}-a", f"rf-{uid}-b"
        await produce(s, s.topics.live, [going_live_unqualified(first)])
        await wait_for(s, s.topics.actions, about(first), timeout=90)

        # Every topic: the contract's, the expiries, Faust's changelogs, the group's offsets.
        names = [t.name for t in kafka.worker_topics(s)]
        names += [f"{s.app_id}-creator-state-changelog", "__consumer_offsets"]
        found = await replicas_and_min_isr(cluster.bootstrap, names)
        assert {t: v[0] for t, v in found.items()} == dict.fromkeys(names, 3)
        assert {t: v[1] for t, v in found.items() if t != "__consumer_offsets"} == dict.fromkeys(
            names[:-1], "2"
        )
        assert await kafka.topic_differences(s, kafka.worker_topics(s)) == []

        cluster.stop_node(2)  # one broker of three: every partition keeps 2 in-sync replicas
        await produce(s, s.topics.live, [going_live_unqualified(second)])
        actions = await wait_for(s, s.topics.actions, about(second), timeout=120)
        assert {a["action"] for a in actions if a["creator_id"] == second} >= {"cut_off_stream"}
        assert worker.proc is not None and worker.proc.poll() is None  # still running
    finally:
        worker.stop()
