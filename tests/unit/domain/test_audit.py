"""The decision log's canonical JSON and hash chain (CONTRACT §5)."""

import hashlib

from pipeline.domain.audit import GENESIS, canonical_json, chain_hash


def test_canonical_json_sorts_keys_at_every_level_without_spaces():
    assert canonical_json({"b": 1, "a": {"d": [1, {"z": 0, "y": "é"}], "c": None}}) == (
        '{"a":{"c":null,"d":[1,{"y":"é","z":0}]},"b":1}'.encode()
    )


def test_chain_hash_covers_prev_hash_and_the_record_without_hash():
    record = {"decision_id": "d1", "outcome": "allow", "prev_hash": GENESIS}
    h = chain_hash(GENESIS, record)
    assert h == hashlib.sha256(GENESIS.encode() + canonical_json(record)).hexdigest()
    assert chain_hash(GENESIS, {**record, "hash": h}) == h
    assert chain_hash("1" * 64, record) != h
    assert chain_hash(GENESIS, {**record, "outcome": "enforce"}) != h
    assert GENESIS == "0" * 64


def _record(**extra):
    from pipeline.domain.audit import DecisionRecord, Source

    return DecisionRecord(
        decision_id="d1", event={"b": 1, "a": "é"}, event_id="e1", event_type="report",
        creator_id="c1", outcome="allow", action_ids=[], rule_ids=[], certifications={},
        state_before={"credit": 12}, policy_version="v1", event_ts=5, decided_at=6,
        source=Source("t", 0, 7), **extra,
    )  # fmt: skip


def test_a_sealed_record_is_the_canonical_json_of_the_same_dict_with_its_hash():
    import msgspec

    from pipeline.domain.audit import seal, verify_hash

    record = _record()
    as_dict = msgspec.to_builtins(record)
    assert "held" not in as_dict and "prev_hash" not in as_dict  # UNSET fields are left out
    body, digest = seal(record, GENESIS)
    assert (body, digest) == seal(as_dict, GENESIS)
    decoded = msgspec.json.decode(body)
    assert decoded["hash"] == digest and decoded["prev_hash"] == GENESIS
    assert verify_hash(decoded)
    assert not verify_hash({**decoded, "outcome": "enforce"})
    assert (
        canonical_json({k: v for k, v in decoded.items() if k != "hash"})
        == body[: -len(',"hash":""}') - 64] + b"}"
    )


def test_held_and_shadow_fields_are_written_only_when_set():
    import msgspec

    from pipeline.domain.audit import seal

    held = msgspec.json.decode(seal(_record(held=True, held_actions=[{"a": 1}]), GENESIS)[0])
    assert held["held"] is True and held["held_actions"] == [{"a": 1}]
    assert "agrees" not in held and "active" not in held
