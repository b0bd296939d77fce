"""Policy history (CONTRACT §1, §10, `enforcement.policies`): the full text of every policy
that decided anything, on a compacted topic, so that the policy of any recorded decision can
be found again by an auditor's replay.

v3: the versions that decide are activation records (engine/activations.py). A worker with
a whole-policy shadow candidate (LIVEGATE_SHADOW_POLICY) publishes the candidate's text as a
bare record keyed by its version, as v2 did: history, which decides nothing, so that its
shadow records' policy_version can be found. Publishing the same text again is harmless.
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
from pipeline.domain.activation import NotAnActivation, parse_activation
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


def attach(app: Any, settings: Settings, shadow: Policy | None = None) -> None:
    """Register a Faust app task that publishes the shadow candidate's text when it starts."""
    if settings.shadow_policy_path is None or shadow is None:
        return
    texts = policy_texts([(settings.shadow_policy_path, shadow.version)])

    async def publish_policies() -> None:
        await publish_until_done(settings, texts)

    app.task(publish_policies)


async def read_policies(settings: Settings, topic: str | None = None) -> dict[str, str]:
    """Every policy text on the topic, by version: activation records' texts (v3) and bare
    texts keyed by their version (v2 history, shadow candidates). A record that is neither
    is left out (load_versions would report a bare one whose hash is not its key)."""
    partitions = await read_topic(settings, topic or settings.topics.policies, required=False)
    out: dict[str, str] = {}
    for rows in partitions.values():
        for rec in rows:
            if rec.key is None or rec.value is None:
                continue
            try:
                a = parse_activation(rec.value)
            except NotAnActivation:
                out[rec.key.decode("utf-8", "replace")] = rec.value.decode("utf-8", "replace")
                continue
            except LiveGateError:
                continue  # a bad activation record (workers report it)
            out[a.policy_version] = a.text
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
