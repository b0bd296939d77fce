"""`certs import` file parsing (issue 14, CONTRACT v2 §3): BOM, `;`, duplicates, as-of."""

from __future__ import annotations

import pytest

from pipeline.ops.registry import EmptyImport, RegistryError, parse_csv

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
