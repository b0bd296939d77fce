"""Stored text reaches terminals and spreadsheets only escaped: the helper, `livegate
explain` against a worker whose view carries escape sequences, and whatif.csv."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.adapters.textsafety import printable, printable_json, spreadsheet_cell
from pipeline.cli import main
from pipeline.replay.report import write_whatif
from pipeline.replay.whatif import Change, WhatIfResult

HOSTILE = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\r\n"


def test_printable_escapes_every_control_character_and_keeps_the_rest():
    assert printable(HOSTILE) == "\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202eevil\\r\\n"
    assert printable("醫生 doctor é ok") == "醫生 doctor é ok"
    assert printable("\x7f\u2028") == "\\x7f\\u2028"


def test_printable_json_is_the_same_json_and_harmless():
    text = json.dumps({"reason": HOSTILE}, ensure_ascii=False, indent=2)
    safe = printable_json(text)
    assert json.loads(safe) == {"reason": HOSTILE}
    assert not any(c in safe for c in "\x1b\x07\x9b\u202e\r")


@pytest.mark.parametrize(("cell", "safe"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("plain", "plain"),
    (-4, -4), (12, 12),
])  # fmt: skip
def test_spreadsheet_cells_that_start_a_formula_are_quoted(cell, safe):
    assert spreadsheet_cell(cell) == safe


@pytest.fixture
def worker_url():
    view = {
        "creator_id": "c\x1b[31m", "credit": 8, "credit_max": 12, "as_of": 1,
        "policy_version": "v\x1b]0;x\x07",
        "in_force": [{"action": "limit_recommendation", "until": None, "rule_id": "r\x9b1",
                      "reason": HOSTILE, "decided_at": 1, "event_ts": 1,
                      "evidence": ["e\x1b[1A"], "action_id": "a\x1bc"}],
        "deductions": [], "open_reviews": [{"review_id": "x\u202e", "opened_at": 1}],
    }  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(view).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("as_json", [False, True])
def test_explain_prints_no_control_character_from_the_view(worker_url, capsys, as_json):
    assert main(["explain", "c1", "--url", worker_url, *(["--json"] if as_json else [])]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\x9b\u202e\r"), out
    if as_json:
        assert json.loads(out)["in_force"][0]["reason"] == HOSTILE  # the same data
    else:
        assert "\\x1b]0;owned\\x07" in out and "evidence e\\x1b[1A" in out


def test_whatif_csv_cells_are_never_formulas(tmp_path):
    result = WhatIfResult(start=0, end=1, candidate_version="v2")
    result.changes.append(Change(
        change="added", creator_id="c1", action="warn", rule_id="r1", subject="=1+1",
        event_id="e1", event_type="report", event_ts=5, partition=0, offset=7,
        detail="@SUM(A1:A9)",
    ))  # fmt: skip
    write_whatif(result, tmp_path)
    with (tmp_path / "whatif.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][4] == "'=1+1" and rows[1][10] == "'@SUM(A1:A9)"
    assert rows[1][7] == "5"  # numbers untouched


def test_an_error_that_quotes_stored_text_is_printed_escaped(capsys):
    from pipeline.cli import _error

    assert _error("line 2: issuer \x1b]0;owned\x07 is not allowed\nsecond") == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "issuer \\x1b]0;owned\\x07 is not" in err
    assert err.count("\n") == 2  # the message's own line break is kept


def test_breaker_release_lines_of_forged_decisions_are_escaped():
    from pipeline.cli.breaker import _line

    line = _line({"event_id": "e\x1b[2J", "event_type": "x\u202e", "creator_id": "c",
                  "decided_at": 1, "rule_ids": ["r\x9b1"]})  # fmt: skip
    assert line.isprintable() and "e\\x1b[2J" in line
