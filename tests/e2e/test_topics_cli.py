"""`livegate topics create`, what docker-compose's init service runs."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

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
