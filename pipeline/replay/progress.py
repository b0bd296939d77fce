"""A one-line progress bar on stderr, shown when stderr is a terminal (or when forced)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, enabled: bool | None = None, stream: TextIO = sys.stderr):
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and done < total:
            return
        self._last = now
        fraction = min(1.0, done / total) if total else 1.0
        width = 30
        filled = int(fraction * width)
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r{self.label:<10} [{bar}] {fraction:4.0%} {done:,}/{total:,} ({rate:,.0f}/s)"
        )
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
