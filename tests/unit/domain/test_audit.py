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
