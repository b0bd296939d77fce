"""Scheduled expiry checks: when a qualification that a live stream relies on ends."""

from __future__ import annotations

import msgspec


class Expiry(msgspec.Struct, frozen=True, gc=False):
    """When a qualification a live stream (or a while-qualified commerce revocation) relies on
    ends: the worker schedules an
    `expiry_due` event for `at_ms`, so the lapse is decided like any other event."""

    domain: str
    stream_id: str | None  # None: a commerce revocation that lasts while qualified
    at_ms: int
