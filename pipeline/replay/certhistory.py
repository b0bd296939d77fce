"""What each creator held at any past time, from the `certification.changes` history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.domain.certifications import (
    CertChange,
    Certification,
    CertSnapshot,
    apply_change,
    change_order,
)
from pipeline.domain.events import CertificationRevoked


def _order(c: CertChange) -> tuple[int, int, str]:
    status = "revoked" if isinstance(c, CertificationRevoked) else "active"
    return change_order(c.ts, status, c.event_id)


@dataclass(frozen=True)
class Staleness:
    domain: str
    recorded: Certification | None
    expected: Certification | None
    missed: CertChange | None  # the latest change as of the decision that the snapshot lacks


class CertHistory:
    def __init__(self, changes: Iterable[CertChange]) -> None:
        per: dict[tuple[str, str], list[CertChange]] = defaultdict(list)
        for c in changes:
            per[(c.creator_id, c.domain)].append(c)
        self.changes = {k: sorted(v, key=_order) for k, v in per.items()}
        self.domains: dict[str, list[str]] = defaultdict(list)
        for creator, domain in self.changes:
            self.domains[creator].append(domain)

    def value_as_of(
        self, creator: str, domain: str, t: int
    ) -> tuple[Certification | None, CertChange | None]:
        """The table's value for (creator, domain) with every change of ts <= t applied."""
        value: Certification | None = None
        last: CertChange | None = None
        for change in self.changes.get((creator, domain), ()):
            if change.ts > t:
                break
            new = apply_change(value, change)
            if new is not None:
                value, last = new, change
        return value, last

    def snapshot_as_of(self, creator: str, t: int) -> CertSnapshot:
        out: CertSnapshot = {}
        for domain in self.domains.get(creator, ()):
            value, _ = self.value_as_of(creator, domain, t)
            if value is not None:
                out[domain] = value
        return out

    def check(
        self, creator: str, snapshot: CertSnapshot, t: int, grace_ms: int
    ) -> tuple[list[Staleness], int]:
        """Domains where the snapshot disagrees with the history as of t, and how many only
        disagree within `grace_ms` of a change (a change racing the decision: in flight)."""
        stale: list[Staleness] = []
        in_flight = 0
        for domain in sorted(set(snapshot) | set(self.domains.get(creator, ()))):
            recorded = snapshot.get(domain)
            expected, last = self.value_as_of(creator, domain, t)
            if recorded == expected:
                continue
            if self._near(creator, domain, recorded, t, grace_ms):
                in_flight += 1
                continue
            stale.append(Staleness(domain, recorded, expected, last))
        return stale, in_flight

    def _near(
        self, creator: str, domain: str, recorded: Certification | None, t: int, grace_ms: int
    ) -> bool:
        lo, hi = t - grace_ms, t + grace_ms
        cuts = [lo] + [c.ts for c in self.changes.get((creator, domain), ()) if lo < c.ts <= hi]
        return any(self.value_as_of(creator, domain, x)[0] == recorded for x in cuts)
