"""The project's exceptions: one root, so callers can catch everything LiveGate raises."""

from __future__ import annotations

# The dead-letter codes: CONTRACT §6 (v1, v2, and v3's `unauthenticated` and
# `already_decided`), and `decision_failed`, LiveGate's own for a record whose decision
# raised an unexpected error (README "Contract additions"). One vocabulary, whoever
# detects it: decoding, the worker, the engine.
DLQ_CODES = frozenset(
    {
        "invalid_json", "schema", "unknown_type", "key_mismatch", "wrong_partition",
        "too_large", "bad_certification", "ts_out_of_range", "unknown_reference",
        "decision_failed", "unauthenticated", "already_decided", "platform_mismatch",
    }
)  # fmt: skip


class LiveGateError(Exception):
    """Root of every exception LiveGate raises on purpose."""


class InvalidEvent(LiveGateError):
    """A record that cannot be decided: it goes to the dead-letter topic with `error`."""

    def __init__(self, error: str, detail: str) -> None:
        if error not in DLQ_CODES:
            raise ValueError(f"unknown dead-letter code {error!r}")
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


class PolicyError(LiveGateError):
    """A policy file that does not load; names the line so the author can fix it."""

    def __init__(self, reason: str, line: int | None = None, source: str = "config/policy.yaml"):
        where = f"{source} line {line}" if line is not None else source
        super().__init__(f"{where}: {reason}")
        self.line = line
        self.reason = reason
        self.source = source
