"""Worker logging: readable text by default, JSON lines with LIVEGATE_LOG_FORMAT=json, and a
processor hook that logs each decision with its event id and rules.

The configuration is handed to Faust's worker (`logging_config`), which installs it when it
starts, so Faust's own lines and ours share one format. Structured fields travel on the log
record as `extra={"fields": {...}}`: the JSON formatter puts them at the top level, the text
formatter appends them as `key=value`.

Decision lines go to the `livegate.decisions` logger: enforce and review at INFO, allow at
DEBUG. The worker's `--loglevel` sets that logger's level, and the hook checks it before
building a line, so a worker at the default level (warning) pays nothing per event.
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import TYPE_CHECKING, Any

from pipeline.domain.events import event_type

if TYPE_CHECKING:
    from pipeline.adapters.records import Record
    from pipeline.domain.decide import Decision
    from pipeline.domain.events import Event

DECISIONS = "livegate.decisions"
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    """One readable line; structured fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        extra = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        head, sep, tail = line.partition("\n")  # keep a traceback below the fields
        return f"{head} {extra}{sep}{tail}"


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "-"
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the fields, exc if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in _fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def logging_config(log_format: str, loglevel: str = "warning") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the worker (Faust's `logging_config`)."""
    level = logging.getLevelName(loglevel.upper())
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {loglevel!r}")
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"livegate": {"()": formatter}},
        "handlers": {
            "livegate": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "livegate",
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["livegate"]},
        "loggers": {DECISIONS: {"level": level}},
    }


def decision_logger(logger: logging.Logger | None = None) -> Any:
    """A processor hook (`Processor.hooks`) that logs every decision; it sends nothing."""
    log = logger or logging.getLogger(DECISIONS)

    def hook(event: Event, decision: Decision, certs: Any, record: Record) -> list[Any]:
        level = logging.DEBUG if decision.outcome == "allow" else logging.INFO
        if not log.isEnabledFor(level):
            return []
        fields = {
            "event_id": event.event_id,
            "creator": event.creator_id,
            "event_type": event_type(event),
            "outcome": decision.outcome,
            "rule_ids": list(decision.rule_ids),
            "actions": [a.action for a in decision.actions],
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        }
        log.log(level, "decision %s", decision.outcome, extra={"fields": fields})
        return []

    return hook
