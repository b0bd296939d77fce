"""Checking the decision log's hash chains (CONTRACT §5), one partition at a time.

Rules, for each record in offset order:
- its `hash` must be SHA-256(prev_hash + canonical JSON without `hash`): otherwise the record
  was altered ("hash");
- its `prev_hash` must be the hash of the record before it (the first record of a partition
  that starts at offset 0: 64 zeros);
- a `prev_hash` equal to the hash of some earlier record is a fork: a worker that took over
  a partition, or redelivered a batch after a crash, wrote on from an older tail. A fork is
  acceptable only when the record re-emits a decision already in the log with the same
  content (`decided_at`, `prev_hash`, `hash` aside): a duplicate, not a break;
- anything else is a break: a record before it is missing or was altered;
- a record LiveGate did not seal (not a JSON object with a hash, or one whose hash does not
  verify and that does not continue the chain: another producer, a partial write; or one
  whose hash verifies but whose `seal` does not, CONTRACT §12: an append by another writer
  who recomputed the hash) is `foreign`: named, not part of the chain, never re-decided;
  the worker continues the chain past it. A record without any `seal` before the
  partition's first sealed one was written before v3 (`unsealed`, counted); after it, it is
  foreign.
A decision id seen before with different content is a conflict (two different decisions
of one event).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.audit import GENESIS, canonical_json, verify_hash
from pipeline.domain.signing import SEALED, UNSEALED, Keys, seal_status

_VOLATILE = ("decided_at", "prev_hash", "hash", "seal")


@dataclass(frozen=True)
class Finding:
    kind: str  # break | conflict | mismatch | state | stale | orphan | foreign
    partition: int
    offset: int
    detail: str
    creator_id: str | None = None
    event_id: str | None = None

    def line(self, topic: str) -> str:
        who = f" creator {self.creator_id}" if self.creator_id else ""
        what = f" event {self.event_id}" if self.event_id else ""
        return f"{self.kind.upper():<8} {topic}[{self.partition}]@{self.offset}{who}{what}: " + (
            self.detail
        )


@dataclass
class ChainResult:
    records: int = 0
    breaks: list[Finding] = field(default_factory=list)
    conflicts: list[Finding] = field(default_factory=list)
    forks: int = 0
    duplicates: set[int] = field(default_factory=set)  # offsets of re-emitted decisions
    foreign: list[Finding] = field(default_factory=list)  # records LiveGate did not seal
    unsealed: int = 0  # records written before v3 (no seal, before the first sealed one)

    @property
    def foreign_offsets(self) -> set[int]:
        return {f.offset for f in self.foreign}


def content_key(record: dict[str, Any]) -> bytes:
    """What must be identical for a re-emission to be a duplicate."""
    return canonical_json({k: v for k, v in record.items() if k not in _VOLATILE})


def check_partition(
    partition: int, rows: list[tuple[int, dict[str, Any] | None]], starts_at_zero: bool = True,
    keys: Keys | None = None,
) -> ChainResult:  # fmt: skip
    """rows: (offset, decoded record or None when the value is not a JSON object); `keys`
    the seal keys (None: seals are not checked, as before v3)."""
    result = ChainResult()
    # How often each decision, with its content, is in the partition: a fork is a
    # re-emission when what it forks with, or what it forks past, is there twice.
    copies = Counter(
        (str(rec.get("decision_id")), content_key(rec))
        for _, rec in rows
        if rec is not None and isinstance(rec.get("hash"), str)
    )
    chain: list[tuple[str, bytes]] = []  # (decision_id, content) of the chained records
    place: dict[int, int] = {}  # offset -> index in chain
    by_hash: dict[str, int] = {}  # hash -> offset of the record that has it
    seen: dict[str, tuple[bytes, int]] = {}  # decision_id -> (content key, first offset)
    held: dict[str, int] = {}  # decision_id -> offset, of decisions held (nothing applied)
    last_hash: str | None = GENESIS if starts_at_zero else None
    last_offset: int | None = None
    sealed_seen = False
    for offset, rec in rows:
        result.records += 1

        def finding(
            kind: str, detail: str, rec: dict[str, Any] | None = rec, offset: int = offset
        ) -> Finding:
            r = rec or {}
            return Finding(kind, partition, offset, detail, r.get("creator_id"), r.get("event_id"))

        if rec is None or not isinstance(rec.get("hash"), str):
            result.foreign.append(
                finding(
                    "foreign",
                    "not a record LiveGate sealed (no JSON object with a hash): another "
                    "producer's or a partial write; not part of the chain",
                )
            )
            continue  # not part of the chain: the next record links to the one before
        sealed = verify_hash(rec)
        if not sealed and last_hash is not None and rec.get("prev_hash") != last_hash:
            result.foreign.append(
                finding(
                    "foreign",
                    "not a record LiveGate sealed (its hash does not verify and it does not "
                    "continue the chain): another producer's; not part of the chain",
                )
            )
            continue
        if sealed and keys is not None:
            status = seal_status(rec, keys)
            if status == SEALED:
                sealed_seen = True
            elif status == UNSEALED and not sealed_seen:
                result.unsealed += 1
            else:
                what = (
                    "carries no seal" if status == UNSEALED else "has a seal that does not verify"
                )
                result.foreign.append(
                    finding(
                        "foreign",
                        f"its hash verifies but it {what} (CONTRACT §12): not written by "
                        "LiveGate; not part of the chain, not re-decided",
                    )
                )
                continue
        if not sealed:
            result.breaks.append(
                finding("break", "hash does not match the record's content: the record was altered")
            )
        did = str(rec.get("decision_id"))
        key = content_key(rec)
        earlier = seen.get(did)
        duplicate = earlier is not None and earlier[0] == key
        if earlier is not None and not duplicate and did in held:
            # A held decision (breaker, daily cap) applied nothing; `breaker release` re-sent
            # its event, and this is that event's decision: not a second one of it.
            del held[did]
            earlier = None
        if earlier is not None and not duplicate:
            result.conflicts.append(
                finding(
                    "conflict",
                    f"decision {did[:12]}… was recorded at offset {earlier[1]} with "
                    "different content",
                )
            )
        if duplicate:
            result.duplicates.add(offset)
        prev = rec.get("prev_hash")
        if last_hash is None or prev == last_hash:
            pass
        elif prev in by_hash or (prev == GENESIS and starts_at_zero):
            result.forks += 1
            # Late records of a frozen or fenced worker fork the chain; so does the owner's
            # next record after them, and a successor re-sending an outbox entry (byte for
            # byte, so from the chain head it had, genesis included). Either way every
            # decision on one side of the fork is re-emitted identically on the other:
            # accept it when this record, or all it forks past, is there twice.
            start = place[by_hash[prev]] + 1 if prev in by_hash else 0
            skipped = chain[start:]
            reemitted = copies[(did, key)] > 1 or all(copies[dk] > 1 for dk in skipped)
            origin = f"offset {by_hash[prev]}" if prev in by_hash else "genesis"
            if not (duplicate or reemitted):
                result.breaks.append(
                    finding(
                        "break",
                        f"prev_hash forks the chain from {origin} "
                        f"(the record before is offset {last_offset}) with a new decision, "
                        "not a re-emission",
                    )
                )
        else:
            where = "at offset 0" if last_offset is None else f"after offset {last_offset}"
            result.breaks.append(
                finding(
                    "break",
                    f"prev_hash matches no earlier record ({where}): a record before "
                    "it is missing or was altered",
                )
            )
        by_hash.setdefault(rec["hash"], offset)
        place[offset] = len(chain)
        chain.append((did, key))
        last_hash, last_offset = rec["hash"], offset
        if earlier is None:
            seen[did] = (key, offset)
            if rec.get("held"):
                held[did] = offset
    return result
