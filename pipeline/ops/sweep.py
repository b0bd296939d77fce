"""Policy sweeps (CONTRACT §11): a rule applied to the creators it concerns who have no new
event, as signed `policy_sweep` events on `moderation.reviews`, decided like any event.

The creators come from the workers' platform index (the certification table has no
platform) crossed with the certification table; the events' ids repeat when the same sweep
is run again (`sweep_id` from rule, platform and policy version), so a repeat changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.adapters import kafka
from pipeline.adapters.certstore import CertStore, connect
from pipeline.adapters.platformindex import PlatformIndex
from pipeline.adapters.settings import Settings
from pipeline.domain.certifications import is_qualified
from pipeline.domain.errors import LiveGateError
from pipeline.domain.policy import Policy
from pipeline.domain.rules.sweeps import SWEEPABLE
from pipeline.domain.signing import canonical, sign

CHUNK = 1000


class SweepRefused(LiveGateError):
    """A sweep that produces nothing: a rule that cannot be swept, or over `--max`."""


def sweep_id(rule_id: str, platform: str, policy_version: str) -> str:
    return hashlib.sha256(f"{rule_id}:{platform}:{policy_version}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    sweep_id: str
    rule_id: str
    platform: str
    policy_version: str
    domain: str
    creators: list[str]  # concerned: on the platform, qualified for the rule's domain now
    imposes: bool  # whether the platform's rule restricts anything (Kuaishou's does not)


async def plan(settings: Settings, policy: Policy, rule_id: str, platform: str, now: int) -> Plan:
    if rule_id not in SWEEPABLE:
        raise SweepRefused(
            f"rule {rule_id!r} cannot be swept: only {', '.join(sorted(SWEEPABLE))} concerns "
            "creators by what they hold rather than by an event"
        )
    merged = policy.for_platform(platform)
    rule = merged.rules[rule_id]
    if rule.domain is None:
        raise SweepRefused(f"rule {rule_id!r} has no `domain` on platform {platform!r}")
    client = connect(settings)
    try:
        index, store = PlatformIndex(client, settings), CertStore(client, settings)
        members = sorted([c async for c in index.members(platform)])
        concerned: list[str] = []
        for i in range(0, len(members), CHUNK):
            found = await store.lookup(members[i : i + CHUNK])
            if not found.loaded:
                raise LiveGateError("the certification table is not loaded: nothing counted")
            concerned.extend(
                c for c, snap in found.snapshots.items()
                if isinstance(snap, dict) and is_qualified(snap, rule.domain, now)
            )  # fmt: skip
    finally:
        await client.aclose()
    restricting = {"revoke_commerce", "limit_recommendation", "ban_account"}
    return Plan(
        sweep_id=sweep_id(rule_id, platform, policy.version), rule_id=rule_id,
        platform=platform, policy_version=policy.version, domain=rule.domain,
        creators=sorted(concerned), imposes=any(a.name in restricting for a in rule.actions),
    )  # fmt: skip


def events(p: Plan, now: int, key: tuple[str, str]) -> list[dict[str, Any]]:
    """One signed policy_sweep per concerned creator (CONTRACT §11, §12)."""
    out = []
    for creator in p.creators:
        body = {
            "type": "policy_sweep", "event_id": f"{p.sweep_id}:{creator}", "ts": now,
            "creator_id": creator, "platform": p.platform, "sweep_id": p.sweep_id,
            "rule_id": p.rule_id,
        }  # fmt: skip
        out.append(sign(body, *key))
    return out


async def produce(
    settings: Settings, bodies: list[dict[str, Any]], progress: Callable[[int], None] | None = None
) -> int:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        sent = 0
        for i in range(0, len(bodies), CHUNK):
            chunk = bodies[i : i + CHUNK]
            topic = settings.topics.reviews
            futures = [
                await producer.send(topic, canonical(b), key=str(b["creator_id"]).encode())
                for b in chunk
            ]
            await asyncio.gather(*futures)
            sent += len(chunk)
            if progress is not None:
                progress(sent)
        return sent
    finally:
        await producer.stop()
