"""Scheduled expiry checks: valid, deterministic event ids; a schedule that costs what is due."""

import asyncio

import pytest

from pipeline.domain.decide import decide
from pipeline.domain.events import ExpiryDue, decode_event
from pipeline.domain.expiries import Expiry
from pipeline.engine import expiries
from pipeline.engine.expiries import Cancelled, ExpirySchedule, expiry_event, schedule_changes

AWKWARD_STREAM_IDS = ["room/1", "直播间1", "room 1", "s" * 256, "a:b", "x\ty\n", "s1"]


@pytest.mark.parametrize("stream_id", AWKWARD_STREAM_IDS)
def test_an_expiry_check_for_any_stream_id_decodes_as_a_valid_event(stream_id):
    event_id, value = expiry_event("c1", Expiry("health", stream_id, 1_900_000_000_000))
    event = decode_event("expiries", b"c1", value)  # raises InvalidEvent (schema) if not
    assert isinstance(event, ExpiryDue)
    assert event.event_id == event_id and event.stream_id == stream_id
    assert event.ts == 1_900_000_000_000 and event.domain == "health"


def test_expiry_check_ids_are_deterministic_and_differ_by_domain_time_and_stream():
    e = Expiry("health", "room/1", 1_900_000_000_000)
    assert expiry_event("c1", e)[0] == expiry_event("c1", e)[0]
    others = [
        Expiry("finance", "room/1", 1_900_000_000_000),
        Expiry("health", "room/1", 1_900_000_000_001),
        Expiry("health", "room/2", 1_900_000_000_000),
        Expiry("health", "room 1", 1_900_000_000_000),
        # Long ids that differ only past the 128th character must not collide.
        Expiry("health", "s" * 200 + "a", 1_900_000_000_000),
        Expiry("health", "s" * 200 + "b", 1_900_000_000_000),
    ]
    ids = {expiry_event("c1", x)[0] for x in [e, *others]}
    assert len(ids) == 7


class Store:
    """The changelogged store's surface the schedule uses: .data and an async set."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    async def set(self, key: bytes, value: bytes | None, partition: int):
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def schedule_of(store: Store | None = None) -> ExpirySchedule:
    return ExpirySchedule(store or Store(), partitions=6)


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """Counts the schedule's decodes of stored values."""
    count = [0]
    real = expiries._decode

    def counting(raw: bytes) -> list[Expiry]:
        count[0] += 1
        return real(raw)

    monkeypatch.setattr(expiries, "_decode", counting)
    return count


async def test_a_tick_decodes_only_what_is_due_not_what_is_stored(decodes):
    # issue 12: the timer decoded the whole table every 0.5 s (177 ms at 200,000 entries).
    schedule = schedule_of()
    T = 1_900_000_000_000
    for i in range(200_000):
        await schedule.add(f"c{i}".encode(), [Expiry("health", "s1", T + 1000 + i)])
    schedule.due(T)  # first use builds the index (once per rebalance): one pass
    decodes[0] = 0
    assert schedule.due(T) == []
    assert decodes[0] == 0  # nothing due: nothing decoded
    due = schedule.due(T + 1000 + 9)
    assert sorted(k for k, _ in due) == sorted(f"c{i}".encode() for i in range(10))
    assert decodes[0] == 10
    for key, e in due:
        await schedule.done(key, [e])
    decodes[0] = 0
    assert schedule.due(T + 1000 + 9) == []  # done: stale index entries cost one lookup
    assert decodes[0] == 0


async def test_due_checks_stay_until_done_so_a_failed_emission_is_retried():
    schedule = schedule_of()
    e = Expiry("health", "s1", 100)
    await schedule.add(b"c1", [e])
    assert schedule.due(100) == [(b"c1", e)]
    assert schedule.due(100) == [(b"c1", e)]  # not emitted (say the producer failed)
    await schedule.done(b"c1", [e])
    assert schedule.due(100) == [] and schedule.store.data == {}


async def test_checks_of_streams_no_longer_live_are_removed():
    schedule = schedule_of()
    a, b = Expiry("health", "s1", 500), Expiry("finance", "s2", 600)
    await schedule.add(b"c1", [a, b])
    await schedule.add(b"c1", [Cancelled("s1")])
    assert schedule.due(10_000) == [(b"c1", b)]
    later = Expiry("health", "s1", 700)  # s1 ended, then started again, within one batch
    await schedule.add(b"c1", [Cancelled("s2"), Cancelled("s1"), later])
    assert schedule.due(10_000) == [(b"c1", later)]
    assert await schedule.add(b"c1", [Cancelled("s9")]) == []  # nothing to change: no write
    await schedule.add(b"c1", [Cancelled("s1")])
    assert schedule.store.data == {}


async def test_a_rebuild_indexes_what_the_table_holds():
    store = Store()
    await schedule_of(store).add(b"c1", [Expiry("health", "s1", 5)])  # before a restart
    schedule = schedule_of(store)
    schedule.due(0)
    store.data[b"c2"] = expiries._encode([Expiry("law", "s9", 7)])  # restored from changelog
    assert schedule.due(10) == [(b"c1", Expiry("health", "s1", 5))]
    schedule.rebuild()
    assert sorted(schedule.due(10)) == [
        (b"c1", Expiry("health", "s1", 5)),
        (b"c2", Expiry("law", "s9", 7)),
    ]


def test_decisions_name_the_streams_no_longer_live():
    from tests.unit.domain.builders import POLICY, ended, started

    d1 = decide(started("s1", "gaming"), {}, None, POLICY, 0)
    d2 = decide(started("s2", "gaming", eid="e2"), {}, d1.new_state, POLICY, 0)
    d3 = decide(ended("s1", eid="e3"), {}, d2.new_state, POLICY, 0)
    assert (d1.cancelled_expiries, d2.cancelled_expiries, d3.cancelled_expiries) == ([], [], ["s1"])
    assert schedule_changes(d3) == [Cancelled("s1")]
