"""A worker's local tables (Faust's RocksDB files), checked against their changelogs in the
broker before Faust opens them.

Each partition's database holds the changelog offset its data goes up to (Faust's own key),
and Faust reads the changelog on from there. A database holding an offset at or past the end
of its changelog partition holds data the broker no longer has: the broker was reset (`livegate
stack down --wipe`), the changelog topics were deleted and made again, or an unclean leader
election lost records this worker had written. Faust refuses to start on it (its
ConsistencyError, "the persisted offset ... is higher than the last offset in that topic",
and the worker stops), or, with an empty changelog, would take the stale data as restored.
The changelog is the state every worker agrees on, so such a partition's database is
deleted here and Faust restores it from the changelog, as it would for a new worker (Kafka
Streams does the same with a checkpoint past the changelog's end: the task's state is wiped
and restored). A database whose changelog the broker does not describe (not authorised, no
leader) is left as it is: nothing is known of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faust.stores.rocksdb import Store
from faust.types.settings import Settings as FaustSettings
from rocksdict import AccessType, Options, Rdict

OFFSET_KEY: bytes = Store.offset_key  # Faust's key for the offset a partition's data is at


@dataclass(frozen=True)
class StalePartition:
    """One partition's local database that is ahead of its changelog in the broker."""

    table: str
    partition: int
    path: Path
    offset: int  # the changelog offset its data goes up to
    changelog: str
    end: int | None  # the changelog partition's end offset; None: the topic does not exist

    def __str__(self) -> str:
        where = (
            f"{self.changelog} does not exist"
            if self.end is None
            else f"{self.changelog} partition {self.partition} ends at offset {self.end}"
        )
        return (
            f"local table {self.table} partition {self.partition} ({self.path}) holds data up "
            f"to changelog offset {self.offset}, but {where}"
        )


def table_directory(app_id: str, options: Mapping[str, Any]) -> Path:
    """Where Faust keeps the tables of an app made with these options."""
    return Path(FaustSettings(app_id, **options).tabledir)


def stored_offset(path: Path) -> int | None:
    """The changelog offset a partition's database holds its data up to; None if it holds
    none or cannot be read (left to Faust)."""
    try:
        db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
    except Exception:  # rocksdict raises plain Exceptions: a locked or damaged database
        return None
    try:
        raw = db.get(OFFSET_KEY)
    finally:
        db.close()
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def partition_files(tabledir: Path, table: str) -> dict[int, Path]:
    """The table's partition databases in `tabledir` (Faust's `<table>-<partition>.db`)."""
    found: dict[int, Path] = {}
    for path in tabledir.glob(f"{table}-*.db"):
        number = path.name[len(table) + 1 : -len(".db")]
        if number.isdigit() and path.is_dir():
            found[int(number)] = path
    return found


def stale_partitions(
    tabledir: Path, changelogs: Mapping[str, str], ends: Mapping[str, Mapping[int, int] | None]
) -> list[StalePartition]:
    """The local partitions ahead of their changelogs: `changelogs` maps each table to its
    changelog topic, `ends` each topic the broker described to its end offsets by partition
    (None: it does not exist). Tables whose topic is not in `ends` are not looked at."""
    stale: list[StalePartition] = []
    for table, topic in sorted(changelogs.items()):
        if topic not in ends:
            continue
        partition_ends = ends[topic]
        for partition, path in sorted(partition_files(tabledir, table).items()):
            if partition_ends is None:
                end: int | None = None
            else:
                end = partition_ends.get(partition)
                if end is None:  # a partition the topic lacks: the worker refuses the count
                    continue
            offset = stored_offset(path)
            if offset is not None and offset >= (end or 0):
                stale.append(StalePartition(table, partition, path, offset, topic, end))
    return stale


def discard(stale: StalePartition) -> None:
    """Delete the partition's database; Faust restores the partition from its changelog."""
    shutil.rmtree(stale.path, ignore_errors=True)
