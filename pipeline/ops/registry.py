"""The certification registry: writes the Redis table and publishes each change (CONTRACT §3).

Redis first (compare-and-set in change order, epoch incremented), then the change record on
`certification.changes` with acks=all, so the topic holds the table's full history.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka.errors import UnknownTopicOrPartitionError

from pipeline.adapters import kafka
from pipeline.adapters.certstore import CertChange, CertStore, connect
from pipeline.adapters.kafka import TopicMissing, read_topic
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import TimeFormatError, now_ms, parse_time
from pipeline.domain.certifications import CertSnapshot
from pipeline.domain.errors import InvalidEvent, LiveGateError
from pipeline.domain.events import decode_event
from pipeline.ops.wording import DOMAINS, in_words, unknown_domain

CSV_HEADER = ["creator_id", "domain", "license_id", "issuer", "valid_from", "valid_until",
              "profession"]  # fmt: skip


class RegistryError(LiveGateError):
    """A certification change was refused; the message says why."""


def build_change(fields: dict[str, object]) -> tuple[bytes, CertChange]:
    """Validate a change exactly as the worker will decode it from the topic."""
    raw = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    creator = str(fields.get("creator_id", ""))
    if fields.get("domain") not in DOMAINS:
        raise RegistryError(unknown_domain(fields.get("domain")))
    try:
        event = decode_event("certs", creator.encode(), raw)
    except InvalidEvent as exc:
        raise RegistryError(in_words(exc.detail)) from None
    return raw, event  # type: ignore[return-value]


def grant_fields(
    creator_id: str, domain: str, license_id: str, issuer: str, valid_from: int,
    valid_until: int, profession: str | None, ts: int, event_id: str | None = None,
) -> dict[str, object]:  # fmt: skip
    fields: dict[str, object] = {
        "event_id": event_id or f"certs:{uuid.uuid4().hex}",
        "type": "certification_granted",
        "ts": ts,
        "creator_id": creator_id,
        "domain": domain,
        "license_id": license_id,
        "issuer": issuer,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    if profession:
        fields["profession"] = profession
    return fields


def revoke_fields(creator_id: str, domain: str, reason: str, ts: int) -> dict[str, object]:
    return {
        "event_id": f"certs:{uuid.uuid4().hex}",
        "type": "certification_revoked",
        "ts": ts,
        "creator_id": creator_id,
        "domain": domain,
        "reason": reason,
    }


@dataclass(frozen=True)
class ApplyResult:
    total: int
    changed: int


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def apply_and_publish(self, changes: Sequence[tuple[bytes, CertChange]]) -> ApplyResult:
        client = connect(self.settings)
        producer = kafka.producer(self.settings)
        topic = self.settings.topics.certs
        try:
            try:
                await producer.start()
                await producer.partitions_for(topic)
            except UnknownTopicOrPartitionError:
                raise RegistryError(
                    f"topic {topic} does not exist at {self.settings.kafka_bootstrap}: "
                    "run `livegate stack up` (or create the contract's topics) first"
                ) from None
            store = CertStore(client, self.settings)
            applied = await store.apply([c for _, c in changes])
            futures = [
                await producer.send(topic, raw, key=c.creator_id.encode()) for raw, c in changes
            ]
            await asyncio.gather(*futures)
            return ApplyResult(len(changes), sum(applied))
        finally:
            await producer.stop()
            await client.aclose()

    async def show(self, creator_id: str) -> CertSnapshot:
        client = connect(self.settings)
        try:
            return await CertStore(client, self.settings).snapshot(creator_id)
        finally:
            await client.aclose()

    async def import_csv(self, path: Path) -> ApplyResult:
        changes = parse_csv(path)
        result = await self.apply_and_publish(changes)
        await self._mark_loaded()
        return result

    async def _mark_loaded(self) -> None:
        client = connect(self.settings)
        try:
            await CertStore(client, self.settings).mark_loaded(now_ms())
        finally:
            await client.aclose()

    async def rebuild(self, progress: Callable[[int], None] | None = None) -> ApplyResult:
        """Restore the Redis table from the whole `certification.changes` history."""
        changes, bad = await read_history(self.settings, progress)
        client = connect(self.settings)
        try:
            store = CertStore(client, self.settings)
            applied = await store.apply(changes)
            await store.mark_loaded(now_ms())
        finally:
            await client.aclose()
        return ApplyResult(len(changes) + bad, sum(applied))


async def read_history(
    settings: Settings, progress: Callable[[int], None] | None = None
) -> tuple[list[CertChange], int]:
    """Every valid change on the topic, in offset order per partition, and the invalid count."""
    topic = settings.topics.certs
    try:
        partitions = await read_topic(
            settings, topic, (lambda done, _: progress(done)) if progress else None
        )
    except TopicMissing:
        raise RegistryError(f"topic {topic} not found at {settings.kafka_bootstrap}") from None
    changes: list[CertChange] = []
    bad = 0
    for rows in partitions.values():
        for rec in rows:
            try:
                changes.append(decode_event("certs", rec.key, rec.value or b""))  # type: ignore[arg-type]
            except InvalidEvent:
                bad += 1
    return changes, bad


def parse_csv(path: Path) -> list[tuple[bytes, CertChange]]:
    """All rows or none: every bad row is named by its line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != CSV_HEADER:
        raise RegistryError(f"{path} line 1: header must be {','.join(CSV_HEADER)}")
    ts = now_ms()
    changes: list[tuple[bytes, CertChange]] = []
    errors: list[str] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            changes.append(_row_change(row, ts))
        except (RegistryError, TimeFormatError) as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise RegistryError(f"{path}: {len(errors)} bad row(s), nothing imported:\n  {shown}{more}")
    return changes


def _row_change(row: list[str], ts: int) -> tuple[bytes, CertChange]:
    if len(row) != len(CSV_HEADER):
        raise RegistryError(f"expected {len(CSV_HEADER)} columns, found {len(row)}")
    creator, domain, license_id, issuer, vfrom, vuntil, profession = (c.strip() for c in row)
    if not license_id or not issuer:
        raise RegistryError("license_id and issuer must not be empty")
    # Deterministic event id: importing the same row twice is one change.
    digest = hashlib.sha256("\x1f".join(row).encode()).hexdigest()[:32]
    fields = grant_fields(
        creator, domain, license_id, issuer, parse_time(vfrom), parse_time(vuntil),
        profession or None, ts, event_id=f"import:{digest}",
    )  # fmt: skip
    return build_change(fields)
