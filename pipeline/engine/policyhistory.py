"""Policy history (CONTRACT §1, `enforcement.policies`): the full text of every policy a
worker runs, keyed by its version, on a compacted topic, so that the policy of any recorded
decision can be found again by an auditor's replay.

A worker publishes its policies (the active one, and the shadow candidate if any) when it
starts, with acks=all, retrying until the broker has them. Publishing the same text again
is harmless: the key is the version, and compaction keeps one record per version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.adapters import kafka
from pipeline.adapters.kafka import read_topic
from pipeline.adapters.retry import retry
from pipeline.adapters.settings import Settings
from pipeline.domain.errors import LiveGateError
from pipeline.domain.policy import Policy, load_policy, policy_version

log = logging.getLogger("livegate.policyhistory")


def policy_texts(policies: Iterable[tuple[Path, str]]) -> dict[str, str]:
    """version -> text of each (path, expected version); refuses a file edited since loading."""
    out: dict[str, str] = {}
    for path, version in policies:
        text = path.read_text(encoding="utf-8")
        found = policy_version(text)
        if found != version:
            raise LiveGateError(
                f"{path} changed since it was loaded (version {version}, now {found}): "
                "restart the worker so the policy it runs is the one it publishes"
            )
        out[version] = text
    return out


async def publish(settings: Settings, texts: dict[str, str]) -> None:
    """Produce key=version, value=text for each policy; returns when the broker has them all."""
    producer = kafka.producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topics.policies, text.encode(), key=version.encode())
            for version, text in texts.items()
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def publish_until_done(settings: Settings, texts: dict[str, str]) -> None:
    def report(exc: BaseException) -> None:
        log.error("publishing policies to %s failed (%r); retrying", settings.topics.policies, exc)

    # The broker may still be starting: retry, never give up.
    await retry(lambda: publish(settings, texts), on=(Exception,), report=report,
                first_delay=0.2, max_delay=5.0)  # fmt: skip
    log.info("published policies %s to %s", ", ".join(texts), settings.topics.policies)


def attach(app: Any, settings: Settings, active: Policy, shadow: Policy | None = None) -> None:
    """Register a Faust app task that publishes the worker's policies when it starts."""
    paths = [(settings.policy_path, active.version)]
    if settings.shadow_policy_path is not None and shadow is not None:
        paths.append((settings.shadow_policy_path, shadow.version))
    texts = policy_texts(paths)

    async def publish_policies() -> None:
        await publish_until_done(settings, texts)

    app.task(publish_policies)


async def read_policies(settings: Settings, topic: str | None = None) -> dict[str, str]:
    """Every policy text on the history topic, by version (the last record of a key wins)."""
    partitions = await read_topic(settings, topic or settings.topics.policies, required=False)
    out: dict[str, str] = {}
    for rows in partitions.values():
        for rec in rows:
            if rec.key is not None and rec.value is not None:
                out[rec.key.decode("utf-8", "replace")] = rec.value.decode("utf-8")
    return out


def load_versions(texts: dict[str, str]) -> tuple[dict[str, Policy], list[str]]:
    """Load each text; a text whose hash is not its key, or that does not load, is a problem."""
    policies: dict[str, Policy] = {}
    problems: list[str] = []
    for version, text in texts.items():
        if policy_version(text) != version:
            problems.append(f"policy record {version}: its text hashes to {policy_version(text)}")
            continue
        try:
            policies[version] = load_policy(text, source=f"{version} (policy history)")
        except LiveGateError as exc:
            problems.append(f"policy record {version} does not load: {exc}")
    return policies, problems
