"""Closed queue items end: once the appeal window has passed since an item closed, the
workers' queue watcher writes a tombstone for its key on the real `enforcement.queue`, so
compaction removes it and a reader starting afterwards never holds it."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from pipeline.adapters.kafka import contract_topics, ensure_topics
from pipeline.console.queue import QueueView as ConsoleQueue
from pipeline.engine.queuewatch import ClosedSweep, QueueView, follow
from tests.console_helpers import closed, review_item
from tests.helpers import now_ms, produce, read_all, wait_for

pytestmark = pytest.mark.integration
DAY = 86_400_000
WINDOW = 90 * DAY


async def test_closed_items_past_the_appeal_window_get_a_tombstone(settings, uid):
    await ensure_topics(settings, contract_topics(settings))
    topic = settings.topics.queue
    old = {**closed(review_item(f"c-{uid}", f"old-{uid}"), "confirm", "alice"),
           "closed_at": now_ms() - WINDOW - DAY}  # fmt: skip
    recent = {**closed(review_item(f"c-{uid}", f"recent-{uid}"), "dismiss", "bob", "no"),
              "closed_at": now_ms() - DAY}  # fmt: skip
    still_open = review_item(f"c-{uid}", f"open-{uid}")
    reopened_key = {**old, "review_id": f"later-{uid}"}
    await produce(settings, topic, [
        (key(old), old), (key(recent), recent), (key(still_open), still_open),
        # closed long ago, then a later record for the key: the later one is the item
        (key(reopened_key), reopened_key),
        (key(reopened_key), {**reopened_key, "closed_at": now_ms()}),
    ])  # fmt: skip
    watcher = asyncio.create_task(follow(settings, QueueView(ClosedSweep(WINDOW))))
    try:
        records = await wait_for(settings, topic, lambda rs: any(
            r.key == key(old) and r.get("_value", 0) is None for r in rs
        ))  # fmt: skip
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    tombstoned = {r.key for r in records if r.get("_value", 0) is None}
    assert tombstoned == {key(old)}

    # A reader starting now (the console, a worker) keeps the open item and the recent one.
    console = ConsoleQueue()
    for r in await read_all(settings, topic):
        console.apply(r.key, None if r.get("_value", 0) is None else _bytes(r))
    assert set(console.open) == {key(still_open).decode()}
    assert set(console.closed) == {key(recent).decode(), key(reopened_key).decode()}


def key(item: dict) -> bytes:
    """The queue key since v3 (CONTRACT §12): creator_id:kind:id."""
    return f"{item['creator_id']}:review:{item['review_id']}".encode()


def _bytes(record: dict) -> bytes:
    return json.dumps(dict(record)).encode()
