"""The certification registry against the real Redis and Kafka (CONTRACT §3)."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.certstore import CertStore, connect
from pipeline.adapters.kafka import contract_topics, ensure_topics
from pipeline.adapters.settings import Settings
from pipeline.domain.certifications import is_qualified
from pipeline.ops.registry import (
    EmptyImport,
    Registry,
    build_change,
    grant_fields,
    reconcile,
    revoke_fields,
    table_behind_history,
    warn_if_table_behind,
)
from tests.helpers import now_ms, read_all

pytestmark = pytest.mark.integration
DAY = 86_400_000


@pytest.fixture
async def topics(settings: Settings) -> Settings:
    await ensure_topics(settings.kafka_bootstrap, contract_topics(settings))
    return settings


def grant(creator: str, ts: int, until: int, domain: str = "health", **kw: object):
    return build_change(
        grant_fields(creator, domain, "LIC-1", "NHC", ts - DAY, until, "physician", ts, **kw)
    )


async def test_grant_writes_table_epoch_and_change_record(topics: Settings, redis_client, uid):
    settings = topics
    t = now_ms()
    result = await Registry(settings).apply_and_publish([grant(f"c-{uid}", t, t + 30 * DAY)])
    assert result.changed == 1
    raw = await redis_client.hget(f"t{uid}:cert:c-{uid}", "health")
    stored = json.loads(raw)
    assert stored["status"] == "active" and stored["license_id"] == "LIC-1"
    assert stored["valid_until"] == t + 30 * DAY and stored["updated_at"] == t
    assert int(await redis_client.get(f"t{uid}:cert-epoch")) == 1
    records = await read_all(settings, settings.topics.certs)
    assert [(r.key, r["type"], r["creator_id"]) for r in records] == [
        (f"c-{uid}".encode(), "certification_granted", f"c-{uid}")
    ]


async def test_revoke_then_qualification_is_gone(topics: Settings, uid):
    t = now_ms()
    reg = Registry(topics)
    await reg.apply_and_publish([grant(f"c-{uid}", t, t + 30 * DAY)])
    await reg.apply_and_publish([build_change(revoke_fields(f"c-{uid}", "health", "fraud", t + 1))])
    snap = await reg.show(f"c-{uid}")
    assert snap["health"].status == "revoked"
    assert snap["health"].license_id == "LIC-1"  # a revocation keeps what it revoked
    assert not is_qualified(snap, "health", t + 2)


async def test_expiry_boundary_valid_until_is_exclusive(topics: Settings, uid):
    t = now_ms()
    until = t + DAY
    await Registry(topics).apply_and_publish([grant(f"c-{uid}", t, until)])
    snap = await Registry(topics).show(f"c-{uid}")
    assert is_qualified(snap, "health", until - 1)
    assert not is_qualified(snap, "health", until)


async def test_an_older_change_arriving_later_is_ignored(topics: Settings, uid):
    t = now_ms()
    reg = Registry(topics)
    newer = build_change(revoke_fields(f"c-{uid}", "health", "fraud", t))
    older = grant(f"c-{uid}", t - 1000, t + 30 * DAY)
    first = await reg.apply_and_publish([newer])
    second = await reg.apply_and_publish([older])
    assert (first.changed, second.changed) == (1, 0)
    assert (await reg.show(f"c-{uid}"))["health"].status == "revoked"


async def test_applying_the_log_twice_and_shuffled_gives_the_same_table(topics, redis_client, uid):
    t = now_ms()
    log = [
        grant(f"c-{uid}", t, t + DAY)[1],
        build_change(revoke_fields(f"c-{uid}", "health", "x", t + 5))[1],
        grant(f"c-{uid}", t + 10, t + 9 * DAY, event_id=f"g2-{uid}")[1],
        build_change(revoke_fields(f"c-{uid}", "health", "y", t + 10))[1],  # revoked first at =ts
    ]
    client = connect(topics)
    store = CertStore(client, topics)
    try:
        await store.apply(log)
        once = await redis_client.hgetall(f"t{uid}:cert:c-{uid}")
        await store.apply(list(reversed(log)) + log)
        twice = await redis_client.hgetall(f"t{uid}:cert:c-{uid}")
    finally:
        await client.aclose()
    assert once == twice
    assert json.loads(once[b"health"])["status"] == "active"
    assert json.loads(once[b"health"])["event_id"] == f"g2-{uid}"


async def test_batched_lookup_of_1000_creators_is_one_round_trip(topics: Settings, uid):
    t = now_ms()
    changes = [grant(f"c{i}-{uid}", t, t + DAY) for i in range(0, 1000, 3)]
    client = connect(topics)
    store = CertStore(client, topics)
    try:
        await store.apply([c for _, c in changes])
        await store.mark_loaded(t)
        before = store.round_trips
        info_before = await client.info("stats")
        lookup = await store.lookup([f"c{i}-{uid}" for i in range(1000)])
        info_after = await client.info("stats")
    finally:
        await client.aclose()
    assert store.round_trips - before == 1
    # The server saw the whole batch: epoch + loaded + 1000 HGETALL (+ the INFO call itself).
    commands = info_after["total_commands_processed"] - info_before["total_commands_processed"]
    assert commands >= 1002
    assert lookup.loaded and lookup.epoch >= 1
    assert len(lookup.snapshots) == 1000
    qualified = [c for c, s in lookup.snapshots.items() if is_qualified(s, "health", t)]
    assert len(qualified) == len(changes)


HEADER = "creator_id,domain,license_id,issuer,valid_from,valid_until,profession\n"


async def test_a_stale_import_does_not_resurrect_a_later_revocation(topics, tmp_path, uid):
    """CONTRACT v2 §3: an import is a snapshot as of a time; a later revocation wins."""
    export = tmp_path / "export.csv"
    export.write_text(HEADER + f"c-{uid},health,L1,NHC,2024-01-01,2099-01-01,physician\n")
    reg = Registry(topics)
    as_of = now_ms() - DAY
    first = await reg.import_csv(export, as_of=as_of)
    await reg.apply_and_publish(
        [build_change(revoke_fields(f"c-{uid}", "health", "struck off", now_ms()))]
    )
    again = await reg.import_csv(export, as_of=as_of)
    assert (first.changed, again.changed) == (1, 0)
    assert (await reg.show(f"c-{uid}"))["health"].status == "revoked"


async def test_the_same_file_twice_changes_nothing(topics, tmp_path, redis_client, uid):
    export = tmp_path / "export.csv"
    export.write_text(
        HEADER.rstrip("\n") + ",updated_at\n"
        f"c-{uid},law,L1,Bar,2024-01-01,2099-01-01,lawyer,2024-06-01T00:00:00Z\n"
    )
    reg = Registry(topics)
    first = await reg.import_csv(export)
    epoch = int(await redis_client.get(f"t{uid}:cert-epoch"))
    again = await reg.import_csv(export)
    assert (first.changed, again.changed) == (1, 0)
    assert int(await redis_client.get(f"t{uid}:cert-epoch")) == epoch
    stored = json.loads(await redis_client.hget(f"t{uid}:cert:c-{uid}", "law"))
    assert stored["updated_at"] == 1_717_200_000_000


async def test_a_header_only_file_changes_nothing_and_never_marks_loaded(
    topics, tmp_path, redis_client, uid
):
    export = tmp_path / "empty.csv"
    export.write_text(HEADER)
    with pytest.raises(EmptyImport, match="no data rows"):
        await Registry(topics).import_csv(export, as_of=now_ms())
    assert not await redis_client.exists(f"t{uid}:cert-loaded")
    assert await read_all(topics, topics.topics.certs) == []


async def _granted_then_revoked_then_rolled_back(topics, redis_client, uid) -> bytes:
    """Grant, revoke, then a Redis rollback: the hash is back to the granted value."""
    t = now_ms()
    reg = Registry(topics)
    await reg.apply_and_publish([grant(f"c-{uid}", t, t + 30 * DAY)])
    granted = await redis_client.hget(f"t{uid}:cert:c-{uid}", "health")
    await reg.apply_and_publish([build_change(revoke_fields(f"c-{uid}", "health", "fraud", t + 1))])
    await redis_client.hset(f"t{uid}:cert:c-{uid}", "health", granted)
    return granted


async def test_reconcile_repairs_a_redis_rollback_and_reports_it(topics, redis_client, uid):
    granted = await _granted_then_revoked_then_rolled_back(topics, redis_client, uid)
    dry = await reconcile(topics, repair=False)
    assert [(d.creator_id, d.domain, d.outcome) for d in dry.differences] == [
        (f"c-{uid}", "health", "found")
    ]
    assert await redis_client.hget(f"t{uid}:cert:c-{uid}", "health") == granted
    epoch = int(await redis_client.get(f"t{uid}:cert-epoch"))

    result = await reconcile(topics, repair=True)
    (d,) = result.differences
    assert (d.creator_id, d.domain, d.outcome) == (f"c-{uid}", "health", "repaired")
    assert d.table is not None and d.table.status == "active"
    assert d.history is not None and d.history.status == "revoked"
    assert json.loads(await redis_client.hget(f"t{uid}:cert:c-{uid}", "health"))["status"] == (
        "revoked"
    )
    assert int(await redis_client.get(f"t{uid}:cert-epoch")) == epoch + 1
    assert (await reconcile(topics, repair=False)).differences == []


async def test_the_worker_start_check_sees_a_table_behind_its_history(topics, redis_client, uid):
    t = now_ms()
    await Registry(topics).apply_and_publish([grant(f"a-{uid}", t, t + DAY)])
    assert await table_behind_history(topics) == []
    await _granted_then_revoked_then_rolled_back(topics, redis_client, uid)
    behind = await table_behind_history(topics)
    assert [(d.creator_id, d.domain) for d in behind] == [(f"c-{uid}", "health")]
    assert await warn_if_table_behind(topics) is True


async def test_reconcile_rewrites_an_unreadable_value_from_the_history(topics, redis_client, uid):
    t = now_ms()
    await Registry(topics).apply_and_publish([grant(f"c-{uid}", t, t + DAY)])
    await redis_client.hset(f"t{uid}:cert:c-{uid}", "health", b'{"status": "susp')
    (d,) = (await reconcile(topics, repair=True)).differences
    assert d.unreadable and d.outcome == "repaired"
    assert json.loads(await redis_client.hget(f"t{uid}:cert:c-{uid}", "health"))["status"] == (
        "active"
    )
