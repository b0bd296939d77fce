"""Following the compacted topics from the beginning (latest value per key), producing
verdicts, and asking the worker for its creator view. The console's only I/O but Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import NewTopic
from yarl import URL

from pipeline.adapters import kafka
from pipeline.adapters.settings import TOPIC_DEFAULTS
from pipeline.console.config import CONSOLE_TOPICS, ConsoleSettings

log = logging.getLogger(__name__)

Apply = Callable[[bytes | None, bytes | None], None]
# CONTRACT §2: a creator id is 1-128 of these; anything else names no worker path.
CREATOR_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def valid_creator_id(creator_id: str) -> bool:
    return CREATOR_ID.fullmatch(creator_id) is not None


def creator_path(creator_id: str) -> str | None:
    """The worker path of a creator's view, the id quoted whole into one segment (a dots-only
    id too, so `..` is never a dot segment), or None for an id off the contract's pattern."""
    if not valid_creator_id(creator_id):
        return None
    segment = quote(creator_id, safe=":")
    if not creator_id.strip("."):
        segment = segment.replace(".", "%2E")
    return f"/creators/{segment}"


def console_topics(cs: ConsoleSettings) -> list[NewTopic]:
    """The v2 topics the console reads and writes, created if missing (as the worker would:
    same partition count, the contract's cleanup policy), so it can start first."""
    names = {
        "moderation.reviews": cs.reviews_topic,
        "enforcement.queue": cs.queue_topic,
        "enforcement.restrictions": cs.restrictions_topic,
    }
    out = []
    for default, name in names.items():
        if default in TOPIC_DEFAULTS:
            configs = kafka.topic_configs(default)
        else:
            cleanup, retention = CONSOLE_TOPICS[default]
            configs = {"cleanup.policy": cleanup, "retention.ms": str(retention)}
        out.append(kafka.new_topic(cs.base, name, cs.base.partitions, configs))
    return out


class Follower:
    """Reads one topic from the beginning and applies every record, then keeps following."""

    def __init__(self, cs: ConsoleSettings, topic: str, apply: Apply) -> None:
        self.cs, self.topic, self.apply = cs, topic, apply
        self.read = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.cs.base.kafka_bootstrap,
            group_id=None,  # every console reads everything; no offsets committed
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=10_000,
            **kafka.client_kwargs(self.cs.base),
        )
        await consumer.start()
        self._task = asyncio.create_task(self._run(consumer), name=f"follow {self.topic}")

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            async for record in consumer:
                self.read += 1
                try:
                    self.apply(record.key, record.value)
                except Exception:  # one bad record must not stop the page from updating
                    log.exception("cannot apply %s@%s", self.topic, record.offset)
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class WorkerViews:
    """GET {worker}/creators/{id}: the creator view (CONTRACT §8 `explain`'s data)."""

    def __init__(self, cs: ConsoleSettings) -> None:
        self.url = cs.worker_url
        token = cs.base.web_token
        self._headers = {"Authorization": f"Bearer {token.reveal()}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self.url:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def view(self, creator_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """(view, None), or (None, why there is none) in words for the page."""
        if self._session is None or not self.url:
            return None, "no worker configured (LIVEGATE_WORKER_URL)"
        path = creator_path(creator_id)
        if path is None:
            return None, "not a creator id (CONTRACT §2: 1-128 of A-Z a-z 0-9 . _ : -)"
        url = URL(self.url + path, encoded=True)  # encoded: yarl must not undo the quoting
        try:
            async with self._session.get(url, headers=self._headers) as response:
                if response.status == 404:
                    return None, "the worker has no state for this creator yet"
                if response.status != 200:
                    return None, f"the worker answered HTTP {response.status}"
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return None, f"the worker at {self.url} did not answer ({type(exc).__name__})"
        if not isinstance(body, dict):
            return None, "the worker's answer is not a JSON object"
        return body, None
