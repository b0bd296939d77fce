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
    if d.get("value_encoding"):
        assert base64.b64decode(d["value"]) == value[:64]
    else:  # text: cut at a character boundary, at most 3 bytes short of the limit
        kept = d["value"].encode()
        assert value.startswith(kept) and 0 <= len(value[:64]) - len(kept) < 4
    assert ("value_sha256" in d) == (len(value) > 64)


@given(st.text(alphabet="直播间养生偏方医生a", min_size=1, max_size=120), st.integers(1, 200))
def test_a_cut_falls_on_a_character_boundary_so_text_stays_text(text, limit):
    raw = text.encode("utf-8")
    d = letter(raw, limit=limit)
    assert "value_encoding" not in d  # valid UTF-8 stays text, however it is cut
    kept = d["value"].encode("utf-8")
    assert raw.startswith(kept) and len(kept) <= limit and len(raw[:limit]) - len(kept) < 4
    assert ("value_sha256" in d) == (len(raw) > limit)


def test_a_cjk_value_over_the_limit_is_cut_before_the_split_character():
    raw = ("直播" * 40_000).encode("utf-8")  # 240,000 bytes of 3-byte characters
    d = letter(raw, limit=65_536)
    assert "value_encoding" not in d
    assert d["value"] == "直播" * 10_922 + "直"  # 65,535 bytes: the next one would split
    assert d["value_sha256"] == hashlib.sha256(raw).hexdigest()
