"""`certs import` file parsing (issue 14, CONTRACT v2 §3): BOM, `;`, duplicates, as-of."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from pipeline.ops.registry import EmptyImport, RegistryError, check_csv, csv_chunks, parse_csv

HEADER = "creator_id,domain,license_id,issuer,valid_from,valid_until,profession"
ROW = "c1,health,L1,NHC,2024-01-01,2099-01-01,physician"
AS_OF = 1_717_200_000_000


def _write(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_excel_bom_and_semicolons(tmp_path):
    rows = [HEADER, ROW, "c2,law,L2,Bar,2024-01-01,2099-01-01,"]
    path = _write(tmp_path, "\ufeff" + "".join(r.replace(",", ";") + "\r\n" for r in rows))
    changes = parse_csv(path, AS_OF)
    assert [(c.creator_id, c.domain, c.ts) for _, c in changes] == [
        ("c1", "health", AS_OF), ("c2", "law", AS_OF)
    ]  # fmt: skip


def test_duplicate_rows_are_named_by_line(tmp_path):
    path = _write(tmp_path, f"{HEADER}\n{ROW}\nc2,law,L2,Bar,2024-01-01,2099-01-01,\n{ROW}\n")
    with pytest.raises(RegistryError) as exc:
        parse_csv(path, AS_OF)
    assert "line 4: c1 health is already on line 2" in str(exc.value)
    assert "nothing imported" in str(exc.value)


def test_rows_are_changes_as_of_the_snapshot_with_stable_ids(tmp_path):
    path = _write(tmp_path, f"{HEADER}\n{ROW}\n")
    once, twice = parse_csv(path, AS_OF), parse_csv(path, AS_OF)
    assert once[0][1].ts == AS_OF and once[0][1].event_id == twice[0][1].event_id
    assert parse_csv(path, AS_OF + 1)[0][1].event_id != once[0][1].event_id


def test_updated_at_column_per_row(tmp_path):
    path = _write(tmp_path, f"updated_at,{HEADER}\n2024-06-01T00:00:00Z,{ROW}\n")
    assert parse_csv(path)[0][1].ts == AS_OF


def test_without_a_time_the_import_is_refused(tmp_path):
    with pytest.raises(RegistryError, match="--as-of TIME"):
        parse_csv(_write(tmp_path, f"{HEADER}\n{ROW}\n"))


def test_a_future_as_of_is_refused(tmp_path):
    with pytest.raises(RegistryError, match="in the future"):
        parse_csv(_write(tmp_path, f"{HEADER}\n{ROW}\n"), AS_OF, now=AS_OF - 3_600_000)


def test_header_only(tmp_path):
    with pytest.raises(EmptyImport, match="no data rows"):
        parse_csv(_write(tmp_path, f"{HEADER}\n\n"), AS_OF)


def test_the_hint_names_a_time_from_the_file_never_now(tmp_path):
    path = _write(tmp_path, f"{HEADER}\n{ROW}\n")
    os.utime(path, (AS_OF / 1000, AS_OF / 1000))
    with pytest.raises(RegistryError) as exc:
        parse_csv(path)
    assert "--as-of 2024-06-01T00:00:00Z" in str(exc.value)
    assert "now" not in str(exc.value)


def test_an_import_is_read_a_chunk_at_a_time(tmp_path):
    rows = "".join(f"c{i},health,L{i},NHC,2024-01-01,2099-01-01,\n" for i in range(5))
    path = _write(tmp_path, f"{HEADER}\n{rows}")
    assert check_csv(path, AS_OF) == 5
    chunks = csv_chunks(path, AS_OF, size=2)
    assert [c.creator_id for _, c in next(iter(chunks))] == ["c0", "c1"]
    assert [len(chunk) for chunk in csv_chunks(path, AS_OF, size=2)] == [2, 2, 1]


def test_checking_and_reading_a_large_file_never_holds_it(tmp_path):
    # parse_csv on main peaked at about 10 x the file's size here (text + every change).
    issuer = "National Health Commission of the People's Republic licensing office " * 3
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
        for i in range(4_000):
            fh.write(f"creator-{i:08d},health,LIC-{i:012d},{issuer},2024-01-01,2099-01-01,\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        assert check_csv(path, AS_OF) == 4_000
        assert sum(len(chunk) for chunk in csv_chunks(path, AS_OF, size=200)) == 4_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 2, (peak, size)
