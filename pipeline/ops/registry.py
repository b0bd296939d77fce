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
from pipeline.adapters.times import TimeFormatError, format_ms, now_ms, parse_time
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

    async def import_csv(self, path: Path, as_of: int | None = None) -> ApplyResult:
        changes = parse_csv(path, as_of)
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


class EmptyImport(RegistryError):
    """A file with no data rows: nothing is imported and the table is not marked loaded."""


def parse_csv(
    path: Path, as_of: int | None = None, now: int | None = None
) -> list[tuple[bytes, CertChange]]:
    """All rows or none: every bad row is named by its line number.

    The file is a snapshot of the registry as of a time (CONTRACT v2 §3): `as_of`, or each
    row's `updated_at` column. Its rows are changes with that ts, so a change made after the
    snapshot (a revocation already applied) wins, and the same file twice is the same changes.
    UTF-8 with or without a BOM (Excel), `,` or `;` between the fields.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    columns = {name: i for i, name in enumerate(header)}
    if sorted(header) not in (sorted(CSV_HEADER), sorted([*CSV_HEADER, "updated_at"])):
        raise RegistryError(
            f"{path} line 1: header must be {','.join(CSV_HEADER)} (any order; "
            "an updated_at column may follow)"
        )
    if as_of is None and "updated_at" not in columns:
        raise RegistryError(
            f"{path}: say as of when the registry export was taken: --as-of TIME (the export's "
            "time; --as-of now for one made just now) or an updated_at column"
        )
    limit = (now_ms() if now is None else now) + 60_000
    if as_of is not None and as_of > limit:
        raise RegistryError(f"--as-of {format_ms(as_of)} is in the future")
    changes: list[tuple[bytes, CertChange]] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            if len(row) != len(header):
                raise RegistryError(f"expected {len(header)} columns, found {len(row)}")
            cells = {name: row[i].strip() for name, i in columns.items()}
            slot = (cells["creator_id"], cells["domain"])
            if slot in seen:
                raise RegistryError(
                    f"{slot[0]} {slot[1]} is already on line {seen[slot]}: one row per "
                    "(creator_id, domain)"
                )
            seen[slot] = line
            changes.append(_row_change(cells, as_of, limit))
        except (RegistryError, TimeFormatError) as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise RegistryError(f"{path}: {len(errors)} bad row(s), nothing imported:\n  {shown}{more}")
    if not changes:
        raise EmptyImport(
            f"{path} has no data rows: nothing imported, and the table is not marked loaded"
        )
    return changes


def _row_change(cells: dict[str, str], as_of: int | None, limit: int) -> tuple[bytes, CertChange]:
    if not cells["license_id"] or not cells["issuer"]:
        raise RegistryError("license_id and issuer must not be empty")
    stamp = cells.get("updated_at") or ""
    if stamp:
        ts = parse_time(stamp)
        if ts > limit:
            raise RegistryError(f"updated_at {stamp} is in the future")
    elif as_of is not None:
        ts = as_of
    else:
        raise RegistryError("updated_at is empty (and no --as-of was given)")
    # Deterministic event id: the same row as of the same time is one change.
    key = [cells[name] for name in CSV_HEADER] + [str(ts)]
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:32]
    fields = grant_fields(
        cells["creator_id"], cells["domain"], cells["license_id"], cells["issuer"],
        parse_time(cells["valid_from"]), parse_time(cells["valid_until"]),
        cells["profession"] or None, ts, event_id=f"import:{digest}",
    )  # fmt: skip
    return build_change(fields)
