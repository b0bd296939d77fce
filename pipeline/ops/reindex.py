"""The platform index rebuilt from the creator-state changelog (`livegate policy reindex`).

Workers add a creator to `<prefix>platform:<P>` once, when its platform is first recorded
(pipeline/adapters/platformindex.py); `livegate policy sweep` counts creators from there. A
Redis that lost writes (a failover with unreplicated writes, a restore from an older
snapshot, a flush) keeps no record of whom it lost, and a sweep would quietly pass them by.
The creator-state changelog (compacted: each creator's latest state) holds every creator's
platform; this reads it to its end and adds each creator to its platform's set (`default`
when its state names none, as the worker indexes a creator whose first event named none).
Adding is idempotent, so running it on an intact index changes nothing; it removes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.adapters import kafka
from pipeline.adapters.certstore import connect
from pipeline.adapters.platformindex import PlatformIndex
from pipeline.adapters.settings import Settings
from pipeline.domain.errors import LiveGateError
from pipeline.domain.platforms import DEFAULT
from pipeline.domain.state import decode_state
from pipeline.engine.faustconfig import STATE_TABLE, changelog_name

CHUNK = 1000


@dataclass
class Reindex:
    """What the changelog says: creators by platform, and the values it could not read."""

    topic: str
    by_platform: dict[str, list[str]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # creator keys, for the message
    before: dict[str, int] = field(default_factory=dict)  # each platform's set, before
    after: dict[str, int] = field(default_factory=dict)  # and after (a dry run: the same)

    @property
    def creators(self) -> int:
        return sum(len(c) for c in self.by_platform.values())


async def read(settings: Settings, progress: Callable[[int, int], None] | None = None) -> Reindex:
    """Each creator's platform, from its latest state in the changelog (tombstones delete)."""
    topic = changelog_name(settings, STATE_TABLE)
    latest: dict[bytes, bytes | None] = {}
    try:
        async for batch in kafka.stream_topic(settings, topic, progress, required=True):
            for r in batch:
                if r.key is not None:
                    latest[r.key] = r.value
    except kafka.TopicMissing:
        raise kafka.TopicMissing(
            f"topic {topic} not found at {settings.kafka_bootstrap}: no worker of app id "
            f"{settings.app_id!r} has run there (LIVEGATE_APP_ID), so there is nothing to index"
        ) from None
    out = Reindex(topic)
    for key, value in sorted(latest.items()):
        if value is None:
            continue
        creator = key.decode("utf-8", "replace")
        try:
            platform = decode_state(value).platform
        except LiveGateError:  # a value the worker could not read either: named, not indexed
            out.unreadable.append(creator)
            continue
        out.by_platform.setdefault(platform or DEFAULT, []).append(creator)
    return out


async def reindex(
    settings: Settings, dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Reindex:  # fmt: skip
    """Read the changelog (`read`), then add every creator found to its platform's set,
    CHUNK a round trip (not with `dry_run`), counting each set before and after."""
    found = await read(settings, progress)
    client = connect(settings)
    try:
        index = PlatformIndex(client, settings)
        platforms = sorted(found.by_platform)
        found.before = {p: await index.count(p) for p in platforms}
        if dry_run:
            found.after = dict(found.before)
            return found
        pairs = [(p, c) for p in platforms for c in found.by_platform[p]]
        for i in range(0, len(pairs), CHUNK):
            await index.add(pairs[i : i + CHUNK])
        found.after = {p: await index.count(p) for p in platforms}
        return found
    finally:
        await client.aclose()
