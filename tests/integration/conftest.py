"""A running worker for a test module: its own topics, app id and Redis prefix."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from pipeline.adapters.kafka import contract_topics, ensure_topics
from pipeline.adapters.settings import Settings
from tests.conftest import ROOT, isolated_env
from tests.helpers import Worker, free_port


@dataclass
class Pipeline:
    settings: Settings
    env: dict[str, str]
    uid: str
    workers: list[Worker]

    def add_worker(self) -> Worker:
        log = ROOT / ".livegate" / "test-logs" / f"worker-{self.uid}-{len(self.workers)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        worker = Worker(self.env, free_port(), log).start()
        self.workers.append(worker)
        return worker


def start_pipeline(stack_env: dict[str, str], loaded: bool = True, **extra: str) -> Pipeline:
    uid = uuid.uuid4().hex[:10]
    env = {**isolated_env(stack_env, uid), **extra}
    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(settings.kafka_bootstrap, contract_topics(settings)))
    if loaded:
        client = redis.Redis.from_url(settings.redis_url.reveal())
        client.set(settings.loaded_key, "1")
        client.close()
    p = Pipeline(settings, env, uid, [])
    p.add_worker().wait_ready()
    return p


@pytest.fixture(scope="module")
def pipeline(stack_env: dict[str, str]) -> Iterator[Pipeline]:
    p = start_pipeline(stack_env)
    yield p
    for w in p.workers:
        w.stop()
