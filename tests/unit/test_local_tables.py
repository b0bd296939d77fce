"""A worker's local table files checked against their changelogs' end offsets
(pipeline/adapters/faust/localtables.py), on real RocksDB files; the broker's part is in
tests/integration/test_store.py."""

from __future__ import annotations

from pathlib import Path

from rocksdict import Options, Rdict

from pipeline.adapters.faust.localtables import (
    OFFSET_KEY,
    discard,
    partition_files,
    stale_partitions,
    stored_offset,
)

CHANGELOGS = {"creator-state": "lg-creator-state-changelog", "outbox": "lg-outbox-changelog"}


def db(tabledir: Path, name: str, offset: int | None, **data: bytes) -> Path:
    path = tabledir / name
    d = Rdict(str(path), Options(raw_mode=True))
    try:
        if offset is not None:
            d[OFFSET_KEY] = str(offset).encode()
        for key, value in data.items():
            d[key.encode()] = value
    finally:
        d.close()
    return path


def test_the_offset_key_is_fausts():
    from faust.stores.rocksdb import Store

    assert OFFSET_KEY == Store.offset_key == b"__faust\0offset__"


def test_a_partition_at_or_past_its_changelogs_end_is_stale_and_one_before_it_is_not(tmp_path):
    db(tmp_path, "creator-state-0.db", 9)  # end 10: its last record, in step
    db(tmp_path, "creator-state-1.db", 10)  # end 10: one past the last record
    db(tmp_path, "creator-state-2.db", 25823)  # end 0: an emptied topic
    db(tmp_path, "creator-state-3.db", 0)  # end 0: offset 0 of an empty topic
    db(tmp_path, "creator-state-4.db", None, a=b"1")  # no offset: nothing restored into it
    ends = {"lg-creator-state-changelog": {0: 10, 1: 10, 2: 0, 3: 0, 4: 0}}

    stale = stale_partitions(tmp_path, CHANGELOGS, ends)

    assert [(s.table, s.partition, s.offset, s.end) for s in stale] == [
        ("creator-state", 1, 10, 10),
        ("creator-state", 2, 25823, 0),
        ("creator-state", 3, 0, 0),
    ]
    assert str(stale[1]) == (
        f"local table creator-state partition 2 ({tmp_path / 'creator-state-2.db'}) holds "
        "data up to changelog offset 25823, but lg-creator-state-changelog partition 2 ends "
        "at offset 0"
    )


def test_every_partition_holding_an_offset_is_stale_when_the_changelog_does_not_exist(tmp_path):
    db(tmp_path, "outbox-0.db", 0)
    db(tmp_path, "outbox-5.db", 3)
    db(tmp_path, "outbox-2.db", None)
    stale = stale_partitions(tmp_path, CHANGELOGS, {"lg-outbox-changelog": None})
    assert [(s.partition, s.end) for s in stale] == [(0, None), (5, None)]
    assert str(stale[0]).endswith("but lg-outbox-changelog does not exist")


def test_what_the_broker_did_not_describe_is_left_alone(tmp_path):
    db(tmp_path, "creator-state-0.db", 100)
    db(tmp_path, "creator-state-7.db", 100)  # a partition the topic lacks
    db(tmp_path, "outbox-0.db", 100)
    # The outbox's topic not described at all (not authorised, no leader); the
    # creator-state topic without partition 7: the worker refuses the partition count.
    stale = stale_partitions(tmp_path, CHANGELOGS, {"lg-creator-state-changelog": {0: 500}})
    assert stale == []


def test_only_the_tables_partition_databases_are_looked_at(tmp_path):
    db(tmp_path, "creator-state-0.db", 5)
    db(tmp_path, "creator-state-backups", 5)  # Faust's backups directory
    db(tmp_path, "creator-state-x.db", 5)
    db(tmp_path, "other-table-0.db", 5)
    (tmp_path / "creator-state-1.db").write_bytes(b"not a database directory")
    assert sorted(partition_files(tmp_path, "creator-state")) == [0]
    stale = stale_partitions(tmp_path, CHANGELOGS, {"lg-creator-state-changelog": None})
    assert [s.path.name for s in stale] == ["creator-state-0.db"]


def test_an_unreadable_database_or_offset_is_left_to_faust(tmp_path):
    broken = tmp_path / "creator-state-0.db"
    broken.mkdir()
    (broken / "CURRENT").write_text("MANIFEST-000099\n")  # names a manifest that is not there
    assert stored_offset(broken) is None
    odd = db(tmp_path, "creator-state-1.db", None)
    d = Rdict(str(odd), Options(raw_mode=True))
    d[OFFSET_KEY] = b"not a number"
    d.close()
    assert stored_offset(odd) is None
    assert stale_partitions(tmp_path, CHANGELOGS, {"lg-creator-state-changelog": None}) == []


def test_discard_deletes_the_partition_and_nothing_else(tmp_path):
    db(tmp_path, "creator-state-0.db", 50, k=b"v")
    db(tmp_path, "creator-state-1.db", 2, k=b"v")
    (stale,) = stale_partitions(
        tmp_path, CHANGELOGS, {"lg-creator-state-changelog": {0: 10, 1: 10}}
    )
    discard(stale)
    assert not (tmp_path / "creator-state-0.db").exists()
    assert stored_offset(tmp_path / "creator-state-1.db") == 2
