"""The transactional outbox: a batch's outputs and state writes become durable together, first.

For every input partition a batch touches, one *entry* holds everything the batch changes
there: the out-records (decisions, actions, snapshots, queue items, dead letters, shadow
records), the state writes (creator states, expiry schedule changes, decided event ids), the
partition's chain head after the batch and the input offsets it decided. The entry is written
to the partition's state store and its changelog (acks=all) before anything else of the
batch; only then are the out-records sent and the states written, and the entry counts as
done once all of that is acknowledged. A successor (after a crash, a rebalance, a failover)
reads the pending entries of the partitions it is given from the restored state and applies
and re-sends them byte for byte before it decides anything: states never exist without their
outputs, nor outputs without their states, and nothing is read back from the decision log.

Layout in the state table (creator ids never start with NUL, so the keys cannot collide):
- `RING` slots, `\\0lg\\0ob` + slot: the entry of sequence number `seq` lives in slot
  `seq % RING`, as one record when it fits, else as chunks (`slot key + chunk index`, each
  led by its `seq`) followed by a marker naming their count and digest: the marker is written
  last, so a marker always finds its chunks. Slots are reused, so the compacted changelog
  keeps a bounded number of keys whatever the rate.
- `\\0lg\\0claim`: the sequence number through which every entry is done, and the consumer
  generation of the owner that wrote it. A new owner writes it once it has finished its
  predecessor's entries (its claim); an entry of an older generation numbered after a claim
  was written by a worker that no longer owned the partition (a zombie) and is ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import msgspec

PREFIX: Final = b"\x00lg\x00"
CLAIM_KEY: Final = PREFIX + b"claim"
RING: Final = 64
# Under the broker's default message.max.bytes (1 MiB) with room for the record's framing.
CHUNK_BYTES: Final = 512 * 1024


class OutRecord(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One record a batch sends: the processor builds them, one place sends them."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None


class Write(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One state write of a batch. `store`: "states" (creator state), "ids" (a decided
    event id), "schedule" (expiry schedule changes, as JSON: applied idempotently), "platforms"
    (v3: key creator_id, value its platform, for the platform index: idempotent too)."""

    store: str
    key: bytes
    value: bytes | None


class Entry(msgspec.Struct, array_like=True, gc=False):
    seq: int
    generation: int
    partition: int
    head: str  # the partition's chain head after this entry's decision records
    done: int  # every entry numbered up to this one was done when this one was written
    offsets: dict[str, int]  # "topic:partition" -> the last input offset it decided
    writes: list[Write]
    out: list[OutRecord]


class Marker(msgspec.Struct, array_like=True, gc=False):
    seq: int
    generation: int
    done: int
    chunks: int  # 0: the entry is inline
    digest: bytes = b""
    inline: bytes = b""


class Claim(msgspec.Struct, array_like=True, gc=False):
    done: int
    generation: int
    head: str  # the chain head after entry `done`


_enc = msgspec.msgpack.Encoder()
_entry = msgspec.msgpack.Decoder(Entry)
_marker = msgspec.msgpack.Decoder(Marker)
_claim = msgspec.msgpack.Decoder(Claim)


def slot_key(seq: int) -> bytes:
    return PREFIX + b"ob" + (seq % RING).to_bytes(2, "big")


def chunk_key(seq: int, index: int) -> bytes:
    return slot_key(seq) + index.to_bytes(2, "big")


def encode_entry(entry: Entry, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[bytes, bytes]]:
    """The (key, value) writes of an entry, in the order they must be written."""
    body = _enc.encode(entry)
    if len(body) <= chunk_bytes:
        marker = Marker(entry.seq, entry.generation, entry.done, 0, inline=body)
        return [(slot_key(entry.seq), _enc.encode(marker))]
    header = entry.seq.to_bytes(8, "big")
    pieces = [body[i : i + chunk_bytes] for i in range(0, len(body), chunk_bytes)]
    writes = [(chunk_key(entry.seq, i), header + p) for i, p in enumerate(pieces)]
    digest = hashlib.sha256(body).digest()
    marker = Marker(entry.seq, entry.generation, entry.done, len(pieces), digest)
    writes.append((slot_key(entry.seq), _enc.encode(marker)))
    return writes


def encode_claim(claim: Claim) -> bytes:
    return _enc.encode(claim)


@dataclass
class Found:
    """What a partition's store holds of the outbox."""

    pending: list[Entry] = field(default_factory=list)  # by seq: to apply and re-send
    last_seq: int = -1  # the highest sequence number written (-1: none)
    head: str | None = None  # the chain head after the last entry (None: no entry at all)
    claim: Claim | None = None
    zombies: list[int] = field(default_factory=list)  # entries ignored: written after a claim
    unreadable: list[int] = field(default_factory=list)  # slots whose value cannot be read

    @property
    def empty(self) -> bool:
        """No entry and no claim: a partition this version never wrote (or a new one)."""
        return self.head is None and self.claim is None


def read_outbox(get: Callable[[bytes], bytes | None]) -> Found:
    """Read a partition's outbox through `get` (the partition's store)."""
    found = Found()
    raw = get(CLAIM_KEY)
    if raw is not None:
        try:
            found.claim = _claim.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            found.unreadable.append(-1)
    markers: list[Marker] = []
    for slot in range(RING):
        raw = get(slot_key(slot))
        if raw is None:
            continue
        try:
            markers.append(_marker.decode(raw))
        except (msgspec.DecodeError, msgspec.ValidationError):
            found.unreadable.append(slot)
    claim = found.claim
    if claim is not None:
        # Entries numbered after the claim by an older generation: a zombie's.
        found.zombies = sorted(
            m.seq for m in markers if m.seq > claim.done and m.generation < claim.generation
        )
        markers = [m for m in markers if m.seq not in found.zombies]
    if claim is not None:
        found.last_seq, found.head = claim.done, claim.head
    if not markers:
        return found
    markers.sort(key=lambda m: m.seq)
    done = max([m.done for m in markers] + [claim.done if claim is not None else -1])
    newest = markers[-1] if markers[-1].seq > found.last_seq else None
    found.last_seq = max(found.last_seq, markers[-1].seq)
    for m in markers:
        if m.seq <= done and m is not newest:
            continue
        try:
            entry = _assemble(m, get)
        except (msgspec.DecodeError, msgspec.ValidationError):
            # Not what this version writes (another writer on the changelog, a bug): said,
            # never a worker that exits on every start and so a stalled partition.
            found.unreadable.append(m.seq % RING)
            continue
        if entry is None:
            # Its chunks were overwritten by a later entry: one that starts only once
            # this one is done.
            continue
        if m is newest:
            found.head = entry.head
        if m.seq > done:
            found.pending.append(entry)
    return found


def _assemble(m: Marker, get: Callable[[bytes], bytes | None]) -> Entry | None:
    if m.chunks == 0:
        return _entry.decode(m.inline)
    header = m.seq.to_bytes(8, "big")
    parts = []
    for i in range(m.chunks):
        raw = get(chunk_key(m.seq, i))
        if raw is None or raw[:8] != header:
            return None
        parts.append(raw[8:])
    body = b"".join(parts)
    if hashlib.sha256(body).digest() != m.digest:
        return None
    return _entry.decode(body)
