"""The console's audit log: who signed in or failed to, signed out, or sent a verdict;
when; from where. One JSON object per line, appended to LIVEGATE_CONSOLE_AUDIT_LOG (mode
0600), or written to stderr when none is set. A line is written before the response."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO


class AuditLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._out: TextIO = sys.stderr
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._out = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, event: str, ts: int, address: str, reviewer_id: str, **more: Any) -> None:
        """`reviewer_id` as typed for a failed sign-in (JSON escapes what it holds)."""
        record = {"ts": ts, "event": event, "reviewer_id": reviewer_id, "address": address,
                  **more}  # fmt: skip
        line = json.dumps(record, ensure_ascii=True, sort_keys=True)
        with self._lock:
            self._out.write(("audit " if self.path is None else "") + line + "\n")
            self._out.flush()

    def close(self) -> None:
        if self.path is not None:
            self._out.close()
