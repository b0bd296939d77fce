"""The outbox's layout: entries inline or chunked, which are pending, zombies, a bounded ring."""

from __future__ import annotations

from pipeline.engine.outbox import (
    CLAIM_KEY,
    RING,
    Claim,
    Entry,
    OutRecord,
    Write,
    encode_claim,
    encode_entry,
    read_outbox,
)


def entry(seq: int, done: int = -1, generation: int = 1, size: int = 10) -> Entry:
    out = [OutRecord("enforcement.decisions", b"c1", b"x" * size, 0)]
    return Entry(seq, generation, 0, f"head{seq}", done, {"live.streams:0": seq},
                 [Write("states", b"c1", b"state")], out)  # fmt: skip


def store(*entries: Entry, chunk_bytes: int = 1 << 20, claim: Claim | None = None) -> dict:
    data: dict[bytes, bytes] = {}
    for e in entries:
        data.update(encode_entry(e, chunk_bytes))
    if claim is not None:
        data[CLAIM_KEY] = encode_claim(claim)
    return data


def test_an_empty_store_is_a_partition_this_version_never_wrote():
    found = read_outbox({}.get)
    assert found.empty and found.pending == [] and found.last_seq == -1


def test_entries_not_yet_done_are_pending_in_order_and_the_head_is_the_newest():
    data = store(entry(0), entry(1, done=0), entry(2, done=0))
    found = read_outbox(data.get)
    assert [e.seq for e in found.pending] == [1, 2]
    assert found.head == "head2" and found.last_seq == 2
    assert found.pending[0].out == entry(1).out  # byte for byte


def test_a_claim_says_which_are_done():
    data = store(entry(0), entry(1, done=0), claim=Claim(1, 1, "head1"))
    found = read_outbox(data.get)
    assert found.pending == [] and found.head == "head1" and found.last_seq == 1


def test_a_large_entry_is_chunked_with_its_marker_last_and_reassembled():
    big = entry(5, size=5000)
    writes = encode_entry(big, chunk_bytes=1000)
    assert len(writes) > 5 and writes[-1][0] == writes[0][0][:-2]  # the marker: the slot key
    found = read_outbox(dict(writes).get)
    assert found.pending == [big]


def test_chunks_without_their_marker_are_not_an_entry():
    writes = encode_entry(entry(5, size=5000), chunk_bytes=1000)
    found = read_outbox(dict(writes[:-1]).get)
    assert found.empty


def test_chunks_overwritten_by_a_later_entry_leave_the_earlier_one_done():
    data = store(entry(3, size=5000), chunk_bytes=1000)
    later = encode_entry(entry(3 + RING, done=3, size=5000), 1000)
    data.update(later[:-1])  # the later entry's chunks, its marker not yet written
    found = read_outbox(data.get)
    assert found.pending == []


def test_an_entry_written_after_a_claim_by_an_older_generation_is_a_zombie_s():
    data = store(entry(0), claim=Claim(0, 5, "head0"))
    data.update(encode_entry(entry(1, done=0, generation=4)))
    found = read_outbox(data.get)
    assert found.zombies == [1] and found.pending == [] and found.head == "head0"


def test_the_ring_bounds_the_keys_whatever_the_count_of_entries():
    data: dict[bytes, bytes] = {}
    for seq in range(5 * RING):
        data.update(encode_entry(entry(seq, done=seq - 1)))
    assert len(data) == RING
    found = read_outbox(data.get)
    assert [e.seq for e in found.pending] == [5 * RING - 1] and found.last_seq == 5 * RING - 1


def test_an_entry_that_does_not_decode_is_reported_not_a_crash():
    data = store(entry(0), entry(1, done=0))
    from pipeline.engine.outbox import Marker, _enc, slot_key

    data[slot_key(1)] = _enc.encode(Marker(1, 1, 0, 0, inline=b"\xc1 not msgpack"))
    found = read_outbox(data.get)
    assert found.pending == [] and found.unreadable == [1]
