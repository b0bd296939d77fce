"""The certification cache: coherent with the epoch, bounded in round trips, and never
caching an unreadable value."""

from __future__ import annotations

from pipeline.adapters.certstore import Lookup, Unreadable
from pipeline.engine.certcache import CertCache


class MovingStore:
    """A table whose epoch moves between every two round trips (a bulk import)."""

    def __init__(self) -> None:
        self.epoch = 0
        self.trips: list[list[str]] = []
        self.bad: set[str] = set()

    async def lookup(self, creators):
        names = list(creators)
        self.trips.append(names)
        self.epoch += 1
        snaps = {c: Unreadable(f"cert:{c}", "not JSON") if c in self.bad else {} for c in names}
        return Lookup(self.epoch, True, snaps)


async def test_an_epoch_that_moves_every_trip_costs_at_most_two_round_trips():
    """Issue 12: the cache re-read only the others and chased the epoch for ever."""
    store = MovingStore()
    cache = CertCache(store)  # type: ignore[arg-type]
    await cache.get_many({"a", "b"})
    store.trips.clear()
    found = await cache.get_many({"a", "b", "c"})
    assert set(found) == {"a", "b", "c"}
    assert len(store.trips) == 2 and sorted(store.trips[1]) == ["a", "b", "c"]


async def test_an_unchanged_epoch_serves_repeats_from_the_cache():
    store = MovingStore()
    cache = CertCache(store)  # type: ignore[arg-type]
    await cache.get_many({"a"})
    store.epoch -= 1  # the next trip reads the same epoch as the cache holds
    store.trips.clear()
    await cache.get_many({"a", "b"})
    assert store.trips == [["b"]]


async def test_unreadable_entries_are_returned_and_never_cached():
    store = MovingStore()
    store.bad = {"x"}
    cache = CertCache(store)  # type: ignore[arg-type]
    found = await cache.get_many({"x", "y"})
    assert isinstance(found["x"], Unreadable) and found["y"] == {}
    assert "x" not in cache.entries and "y" in cache.entries


class FailoverStore(MovingStore):
    """A Sentinel-managed table: the master that answers can change at the same epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.server = "10.0.0.1:6379"

    async def lookup(self, creators):
        names = list(creators)
        self.trips.append(names)
        return Lookup(self.epoch, True, {c: {} for c in names}, self.server)


async def test_a_new_master_at_the_same_epoch_drops_the_cache():
    store = FailoverStore()
    cache = CertCache(store)  # type: ignore[arg-type]
    await cache.get_many({"a"})
    store.trips.clear()
    await cache.get_many({"a", "b"})
    assert store.trips == [["b"]]  # same master, same epoch: "a" from the cache
    store.server = "10.0.0.2:6379"  # failover to a replica whose epoch reads the same
    store.trips.clear()
    await cache.get_many({"a", "b"})
    assert [sorted(t) for t in store.trips] == [[], ["a", "b"]]  # everyone read again
