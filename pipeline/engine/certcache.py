"""Worker-local cache of the certification table, coherent through the epoch key.

Every batch costs one Redis round trip: the epoch and loaded flag are read together with
the certifications of the batch's creators that are not cached. When the epoch has moved
since the cache was filled, the whole cache is dropped and the batch's creators are read
again, so a decision never uses a certification older than the last change written before
its batch was read (DESIGN.md, "Certification lookups are batched and coherent").
"""

from __future__ import annotations

from collections.abc import Collection

from pipeline.adapters import metrics
from pipeline.adapters.certstore import CertStore, Entry, Unreadable
from pipeline.domain.certifications import CertSnapshot
from pipeline.domain.errors import LiveGateError


class TableNotLoaded(LiveGateError):
    """The Redis table is not known to be complete (CONTRACT §3): decide nothing."""


class CertCache:
    def __init__(self, store: CertStore, max_entries: int = 500_000) -> None:
        self.store = store
        self.max_entries = max_entries
        # The epoch and the master that answered (a Sentinel failover may move to a master
        # whose epoch is equal or behind: a new master drops the cache as a moved epoch does).
        self.epoch: tuple[str, int] | None = None
        self.entries: dict[str, CertSnapshot] = {}

    async def get_many(self, creators: Collection[str]) -> dict[str, Entry]:
        """The creators' certifications, coherent with the epoch read in the same trip.

        At most two round trips: the uncached creators, and, when the epoch has moved
        since the cache was filled, all of them again in one trip (coherent with that
        trip's epoch whatever moves after; re-reading only the others could chase an
        epoch that moves between every two trips for ever, as a bulk import does).
        Batches of several agents look up concurrently: the result is built from this
        call's own reads and what was cached when it started, never from the shared dict
        after an await, so another call dropping the cache cannot take entries away.
        Unreadable entries are returned, never cached.
        """
        found: dict[str, Entry] = {}
        wanted: list[str] = []
        for c in creators:
            cached = self.entries.get(c)
            if cached is None:
                wanted.append(c)
            else:
                found[c] = cached
        seen_epoch = self.epoch
        lookup = await self.store.lookup(wanted)
        read = len(wanted)
        if lookup.loaded and (lookup.server, lookup.epoch) != seen_epoch and found:
            # The table changed since the cached entries were read: read everyone again.
            lookup = await self.store.lookup(list(creators))
            read += len(creators)
            found = {}
        if not lookup.loaded:
            raise TableNotLoaded("certification table not loaded (cert-loaded key missing)")
        found.update(lookup.snapshots)
        misses = min(read, len(creators))
        metrics.CACHE.labels("hit").inc(len(creators) - misses)
        metrics.CACHE.labels("miss").inc(misses)
        if (lookup.server, lookup.epoch) != self.epoch:
            self.entries.clear()
            self.epoch = (lookup.server, lookup.epoch)
        if len(self.entries) + len(found) > self.max_entries:
            self.entries.clear()
        self.entries.update(
            (c, entry) for c, entry in lookup.snapshots.items() if not isinstance(entry, Unreadable)
        )
        return found
