"""Fault scenarios: a load of simulated traffic with its input ids known, and a checker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from pipeline.adapters.settings import REPO_ROOT
from pipeline.domain.policy import load_policy
from pipeline.ops.registry import Registry, build_change, grant_fields
from pipeline.ops.simulate import Traffic
from tests.faults.checker import Report, check
from tests.helpers import now_ms, read_all, run_cli
from tests.integration.conftest import Pipeline, start_pipeline

YEAR = 365 * 86_400_000


@pytest.fixture
def fresh_pipeline(stack_env: dict[str, str]) -> Iterator[Pipeline]:
    p = start_pipeline(stack_env)
    yield p
    for w in p.workers:
        w.stop(9)


class Load:
    """Simulated traffic over a fixed set of creators, paced, remembering every input."""

    def __init__(self, p: Pipeline, creators: int = 60, seed: int = 11) -> None:
        self.p = p
        self.traffic = Traffic(creators, f"f{p.uid[:5]}", seed)
        self.sent: list[dict] = []
        self.started_ms = now_ms()

    async def grant(self) -> None:
        t = now_ms()
        changes = [
            build_change(
                grant_fields(
                    g.creator_id, g.domain, "L", "NHC", t - 1000, t + YEAR, g.profession, t
                )
            )
            for g in self.traffic.grants()
        ]
        await Registry(self.p.settings).apply_and_publish(changes)

    async def start(self, seconds: float, rate: float) -> asyncio.Task[None]:
        """Grant the certified creators, then run the traffic in the background."""
        await self.grant()
        return asyncio.create_task(self.run(seconds, rate))

    async def run(self, seconds: float, rate: float) -> None:
        topics = {
            "live": self.p.settings.topics.live,
            "commerce": self.p.settings.topics.commerce,
            "reports": self.p.settings.topics.reports,
        }
        producer = AIOKafkaProducer(
            bootstrap_servers=self.p.settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=120_000,
        )
        await producer.start()
        started = time.monotonic()
        try:
            while time.monotonic() - started < seconds:
                for kind, creator, event in self.traffic.next_events(now_ms()):
                    await self._send(producer, topics[kind], creator, event)
                await asyncio.sleep(1 / rate)
            await producer.flush()
        finally:
            await producer.stop()

    async def _send(self, producer: AIOKafkaProducer, topic: str, key: str, event: dict) -> None:
        for _ in range(120):  # the broker may be restarting: keep trying, never drop
            try:
                await producer.send(topic, json.dumps(event).encode(), key=key.encode())
                self.sent.append(event)
                return
            except KafkaError:
                await asyncio.sleep(0.5)
        raise AssertionError("could not produce for a minute")

    async def settle(self, timeout: float = 120) -> Report:
        """Wait until every input has a decision (or dead letter), then check everything."""
        s = self.p.settings
        deadline = time.monotonic() + timeout
        while True:
            decisions = await read_all(s, s.topics.decisions)
            decided = {d["event_id"] for d in decisions}
            if all(e["event_id"] in decided for e in self.sent) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        actions = await read_all(s, s.topics.actions)
        dead = await read_all(s, s.topics.dlq)
        report = check(self.sent, decisions, actions, dead, start_credit=_start_credit)
        # The checker compares contents; the hash chains (a fork by records sent late from a
        # frozen or fenced worker) are the auditor's check: it must pass after every fault.
        verify = await asyncio.to_thread(
            run_cli, self.p.env, "replay", "verify",
            "--from", str(self.started_ms - 60_000), "--to", str(now_ms() + 60_000),
        )  # fmt: skip
        report.verify_output = verify.stdout + verify.stderr
        if verify.returncode != 0:
            report.problems.append(
                "livegate replay verify failed:\n" + report.verify_output[-3000:]
            )
        return report


_POLICY = load_policy((REPO_ROOT / "config" / "policy.yaml").read_text(encoding="utf-8"))


def _start_credit(platform: str | None) -> int:
    """A new creator's credit on its platform under the shipped policy (the workers')."""
    return _POLICY.for_platform(platform).credit.start
