"""Dead letters carry the original value whatever it is: text, base64, cut with its hash."""

import base64
import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from pipeline.engine.deadletters import dead_letter


def letter(value: bytes | None, key: bytes | None = b"k", limit: int = 64) -> dict:
    return json.loads(dead_letter("schema", "why", "t", 2, 7, key, value, 123, limit))


def test_text_values_are_kept_as_text_with_every_field():
    d = letter(b'{"a": 1}')
    assert d == {
        "error": "schema",
        "detail": "why",
        "topic": "t",
        "partition": 2,
        "offset": 7,
        "key": "k",
        "value": '{"a": 1}',
        "received_at": 123,
    }


def test_invalid_utf8_is_base64_and_a_long_value_is_cut_with_the_hash_of_the_whole():
    raw = b"\xff" * 100
    d = letter(raw)
    assert d["value_encoding"] == "base64"
    assert base64.b64decode(d["value"]) == raw[:64]
    assert d["value_sha256"] == hashlib.sha256(raw).hexdigest()


def test_a_missing_key_and_value_still_make_a_letter():
    d = letter(None, key=None)
    assert d["key"] is None and d["value"] == ""


@given(st.binary(max_size=300), st.one_of(st.none(), st.binary(max_size=40)))
def test_any_bytes_make_valid_json_that_keeps_the_original(value, key):
    d = letter(value, key)
    kept = base64.b64decode(d["value"]) if d.get("value_encoding") else d["value"].encode()
    assert kept == value[:64]
    assert ("value_sha256" in d) == (len(value) > 64)
