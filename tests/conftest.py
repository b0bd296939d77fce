"""Shared fixtures: the real local stack (Kafka + Redis), started once per test session.

When LIVEGATE_KAFKA_BOOTSTRAP and LIVEGATE_REDIS_URL are both set, those services are used.
Otherwise the session starts the project's own local stack (the same code as
`livegate stack up`) on test ports in .livegate/test-stack, and stops it at the end.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from pipeline.adapters.settings import Settings
from pipeline.ops.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
# The tests' own stack; LIVEGATE_TEST_* move it (two checkouts testing side by side).
TEST_STACK_ENV = {
    "LIVEGATE_STACK_DIR": os.environ.get(
        "LIVEGATE_TEST_STACK_DIR", str(ROOT / ".livegate" / "test-stack")
    ),
    "LIVEGATE_KAFKA_PORT": os.environ.get("LIVEGATE_TEST_KAFKA_PORT", "19092"),
    "LIVEGATE_KAFKA_CONTROLLER_PORT": os.environ.get("LIVEGATE_TEST_CONTROLLER_PORT", "19093"),
    "LIVEGATE_REDIS_PORT": os.environ.get("LIVEGATE_TEST_REDIS_PORT", "16379"),
}


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """Environment variables that point LiveGate at the real broker and Redis for tests."""
    if os.environ.get("LIVEGATE_KAFKA_BOOTSTRAP") and os.environ.get("LIVEGATE_REDIS_URL"):
        yield {
            "LIVEGATE_KAFKA_BOOTSTRAP": os.environ["LIVEGATE_KAFKA_BOOTSTRAP"],
            "LIVEGATE_REDIS_URL": os.environ["LIVEGATE_REDIS_URL"],
        }
        return
    env = {**os.environ, **TEST_STACK_ENV}
    stack = LocalStack(Settings.from_env(env))
    started = not all(s.running for s in stack.status())
    if started:
        stack.down(wipe=True)
    stack.up()
    try:
        yield {
            **TEST_STACK_ENV,
            "LIVEGATE_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "LIVEGATE_REDIS_URL": stack.redis_url,
        }
    finally:
        if started:
            stack.down()


@pytest.fixture
def uid() -> str:
    """A short unique id for the test's own topics, creators and Redis keys."""
    return uuid.uuid4().hex[:10]


def isolated_env(stack_env: dict[str, str], uid: str) -> dict[str, str]:
    """Environment for one isolated LiveGate: its own topics, app id and Redis prefix."""
    from pipeline.adapters.settings import TOPIC_DEFAULTS, env_var_for_topic

    env = {**os.environ, **stack_env}
    env["LIVEGATE_REDIS_PREFIX"] = f"t{uid}:"
    env["LIVEGATE_APP_ID"] = f"lg-{uid}"
    # The workers' local tables (RocksDB) in the checkout, not in the home directory.
    env.setdefault("LIVEGATE_DATA_DIR", str(ROOT / ".livegate" / "test-data"))
    for name in TOPIC_DEFAULTS:
        env[env_var_for_topic(name)] = f"t{uid}.{name}"
    return env


@pytest.fixture
def settings(stack_env: dict[str, str], uid: str) -> Settings:
    return Settings.from_env(isolated_env(stack_env, uid))


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_url.reveal())
    yield client
    await client.aclose()


def with_partitions(settings: Settings, n: int) -> Settings:
    return dataclasses.replace(settings, partitions=n)
