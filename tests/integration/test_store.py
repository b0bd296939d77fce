"""The RocksDB store (LIVEGATE_STORE=rocksdb://): creator state on disk, with the changelog
offset it holds, so a restarted worker keeps its state and reads only the changelog since."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from rocksdict import Options, Rdict

from pipeline.adapters.kafka import end_offsets, read_topic
from pipeline.domain.state import decode_state
from pipeline.engine.faustconfig import changelog_names
from tests.helpers import Worker, event, produce, wait_for
from tests.integration.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.integration
OFFSET_KEY = b"__faust\0offset__"  # Faust's own key for the offset a partition db holds


def deductions(records: list, creator: str) -> list[int]:
    return [
        r["credit_after"]
        for r in records
        if r.get("creator_id") == creator and r.get("action") == "deduct_credit"
    ]


@pytest.fixture
def rocks(stack_env, tmp_path) -> Iterator[Pipeline]:
    p = start_pipeline(stack_env, LIVEGATE_STORE="rocksdb://", LIVEGATE_DATA_DIR=str(tmp_path))
    yield p
    for w in p.workers:
        w.stop()


async def until_acked(p: Pipeline, c: str, timeout: float = 20) -> None:
    changelog = f"{p.settings.app_id}-creator-state-changelog"
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await read_topic(p.settings, changelog, required=False)
        if any(r.key == c.encode() for rs in found.values() for r in rs):
            await asyncio.sleep(1.5)  # Faust commits acked offsets every second
            return
        assert asyncio.get_running_loop().time() < deadline, "no changelog record"
        await asyncio.sleep(0.3)


async def decide_first_then_stop(p: Pipeline, c: str) -> tuple[dict, Worker]:
    """The creator's first event (an unqualified health stream) decided, its state written to
    the changelog and its offset committed; then the worker stopped."""
    first = event("stream_started", c, f"{c}-e1", stream_id="s1", category="health")
    try:
        await produce(p.settings, p.settings.topics.live, [(c.encode(), first)])
        acts = await wait_for(
            p.settings, p.settings.topics.actions, lambda rs: deductions(rs, c) == [8]
        )
        assert deductions(acts, c) == [8]  # 12 - 4: unqualified health stream
        # The action goes out before the state's changelog write is delivered (and the
        # offset persisted beside it): stopping at once may land in between.
        await until_acked(p, c)
    finally:
        worker = p.workers[0]
        worker.stop()
    return first, worker


async def test_rocksdb_state_and_changelog_offset_survive_a_restart(rocks: Pipeline, tmp_path):
    p = rocks
    c = f"rocks-{uuid.uuid4().hex[:8]}"
    first, worker = await decide_first_then_stop(p, c)

    # What the worker left on disk: its creator state, under Faust's offset of the last
    # changelog record of the creator's partition it wrote.
    changelog = f"{p.settings.app_id}-creator-state-changelog"
    by_partition = await read_topic(p.settings, changelog)
    records = [r for rs in by_partition.values() for r in rs if r.key == c.encode()]
    assert len(records) == 1
    # The partition's last record: the state, or the outbox's entry or claim written after.
    last = max(r.offset for r in by_partition[records[0].partition])
    tables = tmp_path / f"{p.settings.app_id}-{worker.web_port}" / "v1" / "tables"
    db = Rdict(str(tables / f"creator-state-{records[0].partition}.db"), Options(raw_mode=True))
    try:
        assert decode_state(db[c.encode()]).credit == 8
        assert int(db[OFFSET_KEY]) == last >= records[0].offset
    finally:
        db.close()

    # The same worker again (same data directory): the state is there, the event already
    # decided is not decided twice, and the next one deducts from the stored credit.
    again = Worker(p.env, worker.web_port, worker.log_path).start()
    try:
        again.wait_ready()
        second = event("stream_started", c, f"{c}-e2", stream_id="s2", category="health")
        await produce(
            p.settings, p.settings.topics.live, [(c.encode(), first), (c.encode(), second)]
        )
        acts = await wait_for(
            p.settings, p.settings.topics.actions, lambda rs: len(deductions(rs, c)) >= 2
        )
        # From the stored 8 (a repeat of the rule within its window deducts more); from
        # no state it would be 8 again.
        assert deductions(acts, c) == [8, 0]
        decisions = await wait_for(
            p.settings,
            p.settings.topics.decisions,
            lambda rs: any(r.get("event_id") == f"{c}-e2" for r in rs),
        )
        assert sorted(r["event_id"] for r in decisions if r.get("creator_id") == c) == [
            f"{c}-e1",
            f"{c}-e2",
        ]
    finally:
        again.stop()


async def delete_topics(settings, names: list[str], timeout: float = 30) -> None:
    """Delete topics, and wait until the broker no longer knows them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()
    deadline = asyncio.get_running_loop().time() + timeout
    while (ends := await end_offsets(settings, names)) != {n: None for n in names}:
        assert asyncio.get_running_loop().time() < deadline, f"not deleted: {ends}"
        await asyncio.sleep(0.3)


async def test_a_worker_restarted_on_local_tables_ahead_of_a_reset_broker_restores_them(
    rocks: Pipeline, tmp_path
):
    """The broker lost the changelogs (a reset stack, topics deleted and made again) while
    the worker's RocksDB files kept their offsets: Faust refuses such files at start (its
    ConsistencyError). The worker deletes them, says so, and restores from the changelog."""
    p = rocks
    c = f"reset-{uuid.uuid4().hex[:8]}"
    _, worker = await decide_first_then_stop(p, c)
    changelogs = sorted(changelog_names(p.settings).values())
    tables = tmp_path / f"{p.settings.app_id}-{worker.web_port}" / "v1" / "tables"
    kept = sorted(path.name for path in tables.glob("creator-state-*.db"))
    assert kept, "the worker left no creator-state files"
    await delete_topics(p.settings, changelogs)

    # Its own log: the first worker's "Ready" must not count as this one's.
    again_log = worker.log_path.with_name(worker.log_path.stem + "-again.log")
    again = Worker(p.env, worker.web_port, again_log).start()
    try:
        again.wait_ready()
        log = again_log.read_text()
        # The partition of the creator's state held an offset (those never written hold
        # none, and nothing to lose).
        named = [n for n in kept if f"({tables / n}) holds data up to changelog offset" in log]
        assert named, log[:3000]
        assert f"{p.settings.app_id}-creator-state-changelog does not exist" in log
        second = event("stream_started", c, f"{c}-e2", stream_id="s2", category="health")
        await produce(p.settings, p.settings.topics.live, [(c.encode(), second)])
        decisions = await wait_for(
            p.settings,
            p.settings.topics.decisions,
            lambda rs: any(r.get("event_id") == f"{c}-e2" for r in rs),
        )
        assert any(r.get("event_id") == f"{c}-e2" for r in decisions)
        assert again.proc.poll() is None, "the worker stopped"
        assert "ConsistencyError" not in again_log.read_text()
    finally:
        again.stop()
