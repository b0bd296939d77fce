"""`livegate topics create`, what docker-compose's init service runs."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.adapters import kafka
from tests.conftest import isolated_env
from tests.helpers import run_cli

pytestmark = pytest.mark.e2e


async def existing(settings) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_creates_the_contract_and_internal_topics_once(stack_env, uid, settings):
    wanted = {t.name for t in kafka.worker_topics(settings)}
    assert not wanted & await existing(settings)
    first = run_cli(isolated_env(stack_env, uid), "topics", "create")
    assert first.returncode == 0, first.stderr
    assert f"topics: {len(wanted)} created" in first.stdout
    assert wanted <= await existing(settings)
    again = run_cli(isolated_env(stack_env, uid), "topics", "create")
    assert again.returncode == 0 and "topics: 0 created" in again.stdout


async def test_says_how_existing_topics_differ_from_the_settings(stack_env, uid, settings):
    env = isolated_env(stack_env, uid)
    live = settings.topics.live
    # Another partition count and another retention than the settings would create; a
    # changelog (Faust creates it) that is not compacted.
    changelog = f"{settings.app_id}-creator-state-changelog"
    await kafka.ensure_topics(
        settings,
        [
            NewTopic(live, 2, 1, topic_configs={"retention.ms": "1000"}),
            NewTopic(changelog, 6, 1, topic_configs={"cleanup.policy": "delete"}),
        ],
    )
    result = run_cli(env, "topics", "create")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"differs: {live}: partitions is 2, the settings want 6" in result.stdout
    assert f"differs: {live}: retention.ms is 1000, the settings want 2592000000" in result.stdout
    assert f"differs: {changelog}: cleanup.policy is delete, the settings want compact" in (
        result.stdout
    )
    # Replication 2 on a one-broker stack: every topic differs in replication factor.
    result = run_cli({**env, "LIVEGATE_REPLICATION_FACTOR": "2"}, "topics", "create")
    assert result.returncode == 1
    decisions = settings.topics.decisions
    assert f"differs: {decisions}: replication factor is 1, the settings want 2" in result.stdout
    assert (
        f"differs: {decisions}: min.insync.replicas is 1, the settings want 1" not in result.stdout
    )


async def test_a_worker_refuses_a_partition_count_other_than_the_settings(stack_env, uid, settings):
    env = isolated_env(stack_env, uid)
    assert run_cli(env, "topics", "create").returncode == 0
    result = run_cli({**env, "LIVEGATE_PARTITIONS": "4"}, "worker", timeout=60)
    assert result.returncode == 1
    assert f"{settings.topics.live}: partitions is 6, the settings want 4" in result.stderr


async def test_lag_is_the_groups_committed_offsets_against_the_log_end(stack_env, uid, settings):
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from tests.helpers import produce

    env = isolated_env(stack_env, uid)
    assert run_cli(env, "topics", "create").returncode == 0
    live = settings.topics.live
    await produce(settings, live, [(b"c", b"{}")] * 5)  # one key: one partition
    (part,) = {
        p for p in range(settings.partitions)
        if (await kafka.read_topic(settings, live, required=False)).get(p)
    }  # fmt: skip
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.app_id,
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        tp = TopicPartition(live, part)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(2, "")})
    finally:
        await consumer.stop()
    result = run_cli(env, "topics", "lag")
    assert result.returncode == 0, result.stderr
    assert f"{live}[{part}]  committed 2  end 5  lag 3" in result.stdout
    assert f"group {settings.app_id}: lag 3 records on " in result.stdout
