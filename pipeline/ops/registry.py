"""The certification registry: writes the Redis table and publishes each change (CONTRACT §3).

Redis first (compare-and-set in change order, epoch incremented), then the change record on
`certification.changes` with acks=all, so the topic holds the table's full history.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from aiokafka.errors import UnknownTopicOrPartitionError

from pipeline.adapters import kafka
from pipeline.adapters.certstore import CertChange, CertStore, connect
from pipeline.adapters.kafka import TopicMissing, read_topic
from pipeline.adapters.settings import Settings
from pipeline.adapters.times import TimeFormatError, format_ms, now_ms, parse_time
from pipeline.domain.certifications import (
    Certification,
    CertSnapshot,
    apply_change,
    change_order,
    decode_certification,
    encode_certification,
)
from pipeline.domain.errors import InvalidEvent, LiveGateError
from pipeline.domain.events import DOMAINS, decode_event
from pipeline.ops.wording import in_words, unknown_domain

CSV_HEADER = ["creator_id", "domain", "license_id", "issuer", "valid_from", "valid_until",
              "profession"]  # fmt: skip


log = logging.getLogger(__name__)


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
        return await self.apply_and_publish_chunks([changes])

    async def apply_and_publish_chunks(
        self, chunks: Iterable[Sequence[tuple[bytes, CertChange]]]
    ) -> ApplyResult:
        """Each chunk applied to Redis, then published, before the next is read."""
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
            total = changed = 0
            for changes in chunks:
                applied = await store.apply([c for _, c in changes])
                futures = [
                    await producer.send(topic, raw, key=c.creator_id.encode()) for raw, c in changes
                ]
                await asyncio.gather(*futures)
                total, changed = total + len(changes), changed + sum(applied)
            return ApplyResult(total, changed)
        finally:
            await producer.stop()
            await client.aclose()

    async def show(self, creator_id: str) -> CertSnapshot:
        client = connect(self.settings)
        try:
            return await CertStore(client, self.settings).snapshot(creator_id)
        finally:
            await client.aclose()

    async def inspect(self, creator_id: str) -> tuple[CertSnapshot, dict[str, str]]:
        """The creator's readable certifications, and what is wrong with the others (by
        domain; `*` when the key itself is not a hash), in words."""
        client = connect(self.settings)
        try:
            raw, broken = await read_table(client, self.settings, [creator_id])
        finally:
            await client.aclose()
        snapshot: CertSnapshot = {}
        problems: dict[str, str] = {}
        if creator_id in broken:
            problems["*"] = f"the key {self.settings.cert_prefix}{creator_id} is not a hash"
        for (_, domain), value in raw.items():
            try:
                snapshot[domain] = decode_certification(value)
            except LiveGateError as exc:
                problems[domain] = in_words(str(exc).removeprefix("bad certification value: "))
        return snapshot, problems

    async def import_csv(self, path: Path, as_of: int | None = None) -> ApplyResult:
        """Check the whole file, then apply and publish it a chunk at a time: neither pass
        holds the file in memory."""
        now = now_ms()
        check_csv(path, as_of, now)
        result = await self.apply_and_publish_chunks(csv_chunks(path, as_of, now))
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


Slot = tuple[str, str]  # (creator_id, domain)


@dataclass(frozen=True)
class Difference:
    """One (creator, domain) where the Redis table and the history disagree."""

    creator_id: str
    domain: str
    table: Certification | None  # None: no value (or unreadable: see `unreadable`)
    history: Certification | None
    unreadable: str | None = None  # what is wrong with the table's value
    outcome: str = "found"  # found | repaired | kept (table newer) | changed meanwhile

    @property
    def behind(self) -> bool:
        """The history holds a change the table lacks (a lost write: repair it)."""
        if self.history is None:
            return False
        if self.table is None:
            return True
        return _order(self.history) > _order(self.table)


@dataclass(frozen=True)
class ReconcileResult:
    changes: int
    slots: int
    differences: list[Difference]
    broken: dict[str, str] = dataclasses.field(default_factory=dict)  # keys that are not hashes

    @property
    def consistent(self) -> bool:
        settled = ("repaired", "kept (table newer)")
        return not self.broken and all(d.outcome in settled for d in self.differences)


def _order(c: Certification) -> tuple[int, int, str]:
    return change_order(c.updated_at, c.status, c.event_id)


def fold_history(changes: Sequence[CertChange]) -> dict[Slot, Certification]:
    """The table the history says, by the contract's change order (any input order)."""
    table: dict[Slot, Certification] = {}
    for change in changes:
        slot = (change.creator_id, change.domain)
        new = apply_change(table.get(slot), change)
        if new is not None:
            table[slot] = new
    return table


async def read_table(
    client: aioredis.Redis, settings: Settings, creators: Iterable[str] | None = None
) -> tuple[dict[Slot, bytes], dict[str, str]]:
    """Every raw value of the table (or the given creators'), and the keys not a hash."""
    prefix = settings.cert_prefix
    if creators is None:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
        names = [
            k.decode()[len(prefix) :] async for k in client.scan_iter(match=pattern, count=1000)
        ]
    else:
        names = list(creators)
    raw: dict[Slot, bytes] = {}
    broken: dict[str, str] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for name in chunk:
            pipe.hgetall(prefix + name)
        for name, reply in zip(chunk, await pipe.execute(raise_on_error=False), strict=True):
            if isinstance(reply, Exception):
                broken[name] = str(reply).split("\n")[0]
                continue
            for field, value in reply.items():
                raw[(name, field.decode("utf-8", "replace"))] = value
    return raw, broken


def compare(history: dict[Slot, Certification], raw: dict[Slot, bytes]) -> list[Difference]:
    """Every slot whose table value is not what the history says, sorted."""
    out: list[Difference] = []
    for slot in sorted(set(history) | set(raw)):
        expected = history.get(slot)
        table: Certification | None = None
        problem = None
        if slot in raw:
            try:
                table = decode_certification(raw[slot])
            except LiveGateError as exc:
                problem = str(exc)
        if problem is None and table == expected:
            continue
        out.append(Difference(slot[0], slot[1], table, expected, problem))
    return out


async def reconcile(
    settings: Settings, repair: bool, progress: Callable[[int], None] | None = None
) -> ReconcileResult:
    """CONTRACT v2 §8: compare the Redis table with `certification.changes`; with `repair`,
    write the history's value where the table is behind (or unreadable), by compare-and-set
    on the value read (epoch incremented), and keep a table value newer than the history."""
    changes, _bad = await read_history(settings, progress)
    history = fold_history(changes)
    client = connect(settings)
    try:
        raw, broken = await read_table(client, settings)
        differences = compare(history, raw)
        if not repair:
            return ReconcileResult(len(changes), len(history), differences, broken)
        store = CertStore(client, settings)
        done: list[Difference] = []
        for d in differences:
            expected = raw.get((d.creator_id, d.domain), b"")
            if (d.behind or d.unreadable) and d.history is not None:
                wrote = await store.replace(
                    d.creator_id, d.domain, expected, encode_certification(d.history)
                )
                outcome = "repaired" if wrote else "changed meanwhile"
            else:
                outcome = "kept (table newer)"
            done.append(dataclasses.replace(d, outcome=outcome))
        return ReconcileResult(len(changes), len(history), done, broken)
    finally:
        await client.aclose()


async def table_behind_history(settings: Settings, tail: int = 100) -> list[Difference]:
    """The worker-start check (cheap): each partition's last `tail` changes of
    `certification.changes` against the table. A recent change the table lacks means the
    table went back in time (a Redis failover or a lost `appendfsync everysec` second):
    run `livegate certs reconcile`."""
    topic = settings.topics.certs
    try:
        partitions = await read_topic(settings, topic, required=False, last=tail)
    except TopicMissing:
        return []
    recent: list[CertChange] = []
    for rows in partitions.values():
        for rec in rows:
            try:
                recent.append(decode_event("certs", rec.key, rec.value or b""))  # type: ignore[arg-type]
            except InvalidEvent:
                continue
    if not recent:
        return []
    expected = fold_history(recent)
    client = connect(settings)
    try:
        raw, _ = await read_table(client, settings, {c for c, _ in expected})
    finally:
        await client.aclose()
    return [
        d
        for d in compare(expected, {s: v for s, v in raw.items() if s in expected})
        if d.behind or d.unreadable
    ]


async def warn_if_table_behind(settings: Settings, tail: int = 100) -> bool:
    """Log a warning when the table looks behind its history; True when it does. Never
    raises: a failed check is a warning too, not a reason to stop a worker."""
    try:
        behind = await table_behind_history(settings, tail)
    except Exception as exc:
        log.warning("could not compare the certification table with its history: %s", exc)
        return False
    if not behind:
        return False
    first = behind[0]
    log.warning(
        "the certification table looks behind %s: %d recent change(s) missing (e.g. %s %s: "
        "table %s, history %s); run `livegate certs reconcile`",
        settings.topics.certs, len(behind), first.creator_id, first.domain,
        describe_cert(first.table), describe_cert(first.history),
    )  # fmt: skip
    return True


def describe_cert(c: Certification | None) -> str:
    if c is None:
        return "nothing"
    license_part = f" license {c.license_id}" if c.license_id else ""
    valid = (
        f" valid {format_ms(c.valid_from)}..{format_ms(c.valid_until)}"
        if c.valid_from is not None
        else ""
    )
    return f"{c.status}{license_part}{valid} (as of {format_ms(c.updated_at)}, {c.event_id})"


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


IMPORT_CHUNK = 5_000  # rows applied and published at a time


def parse_csv(
    path: Path, as_of: int | None = None, now: int | None = None
) -> list[tuple[bytes, CertChange]]:
    """Every change of the file, or RegistryError naming every bad row (the whole file in
    memory: for tests and small files; `import_csv` streams with `check_csv` and `csv_chunks`)."""
    check_csv(path, as_of, now)
    return [change for chunk in csv_chunks(path, as_of, now) for change in chunk]


def check_csv(path: Path, as_of: int | None = None, now: int | None = None) -> int:
    """All rows or none: read the file once, row by row, and name every bad row by its line
    number; the number of data rows when all are good.

    The file is a snapshot of the registry as of a time (CONTRACT v2 §3): `as_of`, or each
    row's `updated_at` column. Its rows are changes with that ts, so a change made after the
    snapshot (a revocation already applied) wins, and the same file twice is the same changes.
    UTF-8 with or without a BOM (Excel), `,` or `;` between the fields. Memory: an 8-byte
    digest and a line number per row (to name duplicates), never the rows themselves.
    """
    rows, errors = 0, []
    seen: dict[int, int] = {}
    for line, cells, problem in _csv_rows(path, as_of, now):
        try:
            if problem is not None:
                raise RegistryError(problem)
            slot = (cells["creator_id"], cells["domain"])
            digest = int.from_bytes(hashlib.blake2b("\x1f".join(slot).encode(),
                                                    digest_size=8).digest())  # fmt: skip
            if digest in seen:
                raise RegistryError(
                    f"{slot[0]} {slot[1]} is already on line {seen[digest]}: one row per "
                    "(creator_id, domain)"
                )
            seen[digest] = line
            _row_change(cells, as_of, _limit(now))
            rows += 1
        except (RegistryError, TimeFormatError) as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise RegistryError(f"{path}: {len(errors)} bad row(s), nothing imported:\n  {shown}{more}")
    if not rows:
        raise EmptyImport(
            f"{path} has no data rows: nothing imported, and the table is not marked loaded"
        )
    return rows


def csv_chunks(
    path: Path, as_of: int | None = None, now: int | None = None, size: int = IMPORT_CHUNK
) -> Iterable[list[tuple[bytes, CertChange]]]:
    """The changes of a file `check_csv` passed, `size` at a time, read as they are needed."""
    chunk: list[tuple[bytes, CertChange]] = []
    for _, cells, _ in _csv_rows(path, as_of, now):
        chunk.append(_row_change(cells, as_of, _limit(now)))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _limit(now: int | None) -> int:
    return (now_ms() if now is None else now) + 60_000


def _csv_rows(
    path: Path, as_of: int | None, now: int | None
) -> Iterable[tuple[int, dict[str, str], str | None]]:
    """(line, cells by column name, what is wrong with the row's shape) of each data row,
    read from the open file a row at a time; the header and the as-of are checked first."""
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from None
    with fh:
        try:
            first = fh.readline()
            fh.seek(0)
            delimiter = ";" if first.count(";") > first.count(",") else ","
            reader = csv.reader(fh, delimiter=delimiter)
            header = [h.strip() for h in next(reader, [])]
            _check_header(path, header, as_of, now)
            columns = {name: i for i, name in enumerate(header)}
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    problem = f"expected {len(header)} columns, found {len(row)}"
                    yield reader.line_num, {}, problem
                    continue
                yield reader.line_num, {n: row[i].strip() for n, i in columns.items()}, None
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{path}: cannot read: {exc}") from None


def _check_header(path: Path, header: list[str], as_of: int | None, now: int | None) -> None:
    if sorted(header) not in (sorted(CSV_HEADER), sorted([*CSV_HEADER, "updated_at"])):
        raise RegistryError(
            f"{path} line 1: header must be {','.join(CSV_HEADER)} (any order; "
            "an updated_at column may follow)"
        )
    if as_of is None and "updated_at" not in header:
        # Name a time from the file, never "now": an old export imported as of now would
        # undo every revocation made since it was taken.
        taken = format_ms(int(path.stat().st_mtime * 1000))
        raise RegistryError(
            f"{path}: say as of when the registry export was taken: --as-of TIME, the time "
            f"the registry wrote it (the file was last modified at {taken}: --as-of {taken} "
            "if that is when it was exported), or an updated_at column"
        )
    if as_of is not None and as_of > _limit(now):
        raise RegistryError(f"--as-of {format_ms(as_of)} is in the future")


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
