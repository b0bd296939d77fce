"""Worker log lines: readable text by default, JSON lines on request, one line per decision
with its event id and rules (enforce/review at INFO, allow at DEBUG)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from pipeline.adapters.logs import DECISIONS, decision_logger, logging_config
from pipeline.adapters.records import Record
from pipeline.domain.events import StreamStarted

EVENT = StreamStarted(event_id="e-1", ts=1, creator_id="c-1", stream_id="s1", category="health")
RECORD = Record("live.streams", 3, 42, b"c-1", b"{}", 1, "live")


def decision(outcome: str, rules: list[str], actions: list[str]) -> SimpleNamespace:
    return SimpleNamespace(
        outcome=outcome, rule_ids=rules, actions=[SimpleNamespace(action=a) for a in actions]
    )


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    log = logging.getLogger("test.livegate.decisions")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log.addHandler(handler)
    log.propagate = False
    yield log, stream, handler
    log.removeHandler(handler)


def configure(handler: logging.Handler, fmt: str) -> None:
    formatter = logging_config(fmt)["formatters"]["livegate"]["()"]
    handler.setFormatter(formatter())


def test_json_decision_line_carries_event_rules_and_actions(capture):
    log, stream, handler = capture
    configure(handler, "json")
    log.setLevel(logging.INFO)
    hook = decision_logger(log)
    out = hook(EVENT, decision("enforce", ["live.unqualified"], ["cut_off_stream", "warn"]),
               {}, RECORD)  # fmt: skip
    assert out == []
    line = json.loads(stream.getvalue())
    assert line["level"] == "INFO" and line["message"] == "decision enforce"
    assert line["event_id"] == "e-1" and line["creator"] == "c-1"
    assert line["rule_ids"] == ["live.unqualified"]
    assert line["actions"] == ["cut_off_stream", "warn"]
    assert (line["topic"], line["partition"], line["offset"]) == ("live.streams", 3, 42)
    assert line["event_type"] == "stream_started"


def test_text_decision_line_is_readable_with_key_values(capture):
    log, stream, handler = capture
    configure(handler, "text")
    log.setLevel(logging.INFO)
    decision_logger(log)(EVENT, decision("review", ["live.suspected"], ["flag_for_review"]),
                         {}, RECORD)  # fmt: skip
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "[INFO] test.livegate.decisions: decision review" in text
    assert "event_id=e-1" in text and "rule_ids=live.suspected" in text
    assert "actions=flag_for_review" in text


def test_allow_is_debug_and_costs_nothing_at_info(capture):
    log, stream, handler = capture
    configure(handler, "json")
    log.setLevel(logging.INFO)
    hook = decision_logger(log)
    hook(EVENT, decision("allow", [], []), {}, RECORD)
    assert stream.getvalue() == ""
    log.setLevel(logging.DEBUG)
    hook(EVENT, decision("allow", [], []), {}, RECORD)
    assert json.loads(stream.getvalue())["level"] == "DEBUG"


def test_worker_loglevel_sets_the_decision_logger_and_handler():
    config = logging_config("json", "info")
    assert config["loggers"][DECISIONS]["level"] == logging.INFO
    assert config["handlers"]["livegate"]["level"] == logging.INFO
    assert config["disable_existing_loggers"] is False
    assert logging_config("text", "warning")["loggers"][DECISIONS]["level"] == logging.WARNING
    with pytest.raises(ValueError):
        logging_config("json", "loud")


def test_json_formatter_keeps_exceptions_on_one_line():
    formatter = logging_config("json")["formatters"]["livegate"]["()"]()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("a",),
                                   sys.exc_info())  # fmt: skip
    text = formatter.format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "failed a" and "RuntimeError: boom" in line["exc"]
