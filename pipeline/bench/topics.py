"""One bench run's names: a unique prefix for every topic, application id and Redis key it
creates, so that runs never see each other, and the cleanup that deletes them all."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient

from pipeline.adapters import kafka
from pipeline.adapters.certstore import connect
from pipeline.adapters.settings import TOPIC_DEFAULTS, Settings, env_var_for_topic

PREFIX = "lgbench-"
INPUTS = {"live": "live.streams", "commerce": "commerce.links", "reports": "moderation.reports"}


@dataclass(frozen=True)
class System:
    """A measured system's own topics (inputs, output) and, for LiveGate, its environment."""

    name: str
    settings: Settings
    env: dict[str, str]

    @property
    def inputs(self) -> dict[str, str]:
        """Input kind -> topic."""
        return {kind: self.settings.topics[default] for kind, default in INPUTS.items()}

    @property
    def output(self) -> str:
        """One record per event done: the decision log (passthroughs write theirs there too)."""
        return self.settings.topics.decisions


class Run:
    def __init__(self, base_env: Mapping[str, str] | None = None) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.prefix = f"{PREFIX}{self.run_id}"
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.settings = Settings.from_env(self.base_env)
        self.redis_prefix = f"{self.prefix}:"

    def system(self, name: str) -> System:
        env = dict(self.base_env)
        env["LIVEGATE_APP_ID"] = f"{self.prefix}-{name}"
        # All systems share the run's certification table (only LiveGate reads it).
        env["LIVEGATE_REDIS_PREFIX"] = self.redis_prefix
        for default in TOPIC_DEFAULTS:
            env[env_var_for_topic(default)] = f"{self.prefix}.{name}.{default}"
        return System(name, Settings.from_env(env), env)

    async def create_topics(self, system: System, everything: bool = False) -> None:
        """The inputs and the output (everything: all the contract's topics, as a worker)."""
        wanted = set(system.inputs.values()) | {system.output}
        topics = kafka.contract_topics(system.settings)
        if not everything:
            topics = [t for t in topics if t.name in wanted]
        await kafka.ensure_topics(self.settings, topics)

    async def cleanup(self) -> tuple[int, int]:
        """Delete the run's topics (Faust's internal ones too) and Redis keys."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=30_000,
            **kafka.client_kwargs(self.settings),
        )  # fmt: skip
        await admin.start()
        try:
            mine = [t for t in await admin.list_topics() if t.startswith(self.prefix)]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()
        client = connect(self.settings)
        deleted = 0
        try:
            batch: list[bytes] = []
            async for key in client.scan_iter(match=f"{self.redis_prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += await client.delete(*batch)
                    batch.clear()
            if batch:
                deleted += await client.delete(*batch)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
        return len(mine), deleted
