"""Retry an operation until it succeeds, with capped exponential backoff.

LiveGate never turns a missing dependency (Redis, the broker) into a decision: it waits.
Every such wait goes through `retry`, so the backoff and the logging are the same
everywhere and a caller only says what to retry on and how to report it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    on: tuple[type[BaseException], ...],
    report: Callable[[BaseException], None],
    first_delay: float = 0.05,
    max_delay: float = 2.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    attempts: int | None = None,
) -> T:
    """`await operation()` until it returns; each failure of a type in `on` is reported and
    retried after a delay that doubles up to `max_delay`. Any other exception escapes, and
    with `attempts` (for a command, which must end) so does the failure of the last one."""
    delay = first_delay
    tried = 0
    while True:
        try:
            return await operation()
        except on as exc:
            tried += 1
            if attempts is not None and tried >= attempts:
                raise
            report(exc)
        await sleep(delay)
        delay = min(delay * 2, max_delay)
