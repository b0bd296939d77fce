"""Dead letters (CONTRACT §6): a record that cannot be decided, with everything to find it."""

from __future__ import annotations

import base64
import hashlib

import msgspec


class DeadLetter(msgspec.Struct, omit_defaults=True):
    error: str
    detail: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    received_at: int
    value_encoding: str | None = None
    value_sha256: str | None = None


_encoder = msgspec.json.Encoder()


def utf8_prefix(text: str, raw: bytes, max_bytes: int) -> str:
    """The longest prefix of `text` (whose UTF-8 is `raw`) that fits in max_bytes."""
    if len(raw) <= max_bytes:
        return text
    end = max_bytes
    while end > 0 and raw[end] & 0xC0 == 0x80:  # a continuation byte: inside a character
        end -= 1
    return raw[:end].decode("utf-8")


def dead_letter(
    error: str, detail: str, topic: str, partition: int, offset: int,
    key: bytes | None, value: bytes | None, received_at: int, max_bytes: int,
) -> bytes:  # fmt: skip
    """The dead-letter JSON; the original value as UTF-8 text or base64, cut to max_bytes.

    A value that is valid UTF-8 is cut at a character boundary, so it stays text (a cut
    through a 3-byte CJK character must not turn the whole value into base64).
    """
    raw = value or b""
    sha = hashlib.sha256(raw).hexdigest() if len(raw) > max_bytes else None
    encoding = None
    try:
        text = utf8_prefix(raw.decode("utf-8"), raw, max_bytes)
    except UnicodeDecodeError:
        text = base64.b64encode(raw[:max_bytes]).decode("ascii")
        encoding = "base64"
    key_text = None
    if key is not None:
        try:
            key_text = key.decode("utf-8")
        except UnicodeDecodeError:
            key_text = "base64:" + base64.b64encode(key).decode("ascii")
    letter = DeadLetter(
        error=error, detail=detail, topic=topic, partition=partition, offset=offset,
        key=key_text, value=text, received_at=received_at, value_encoding=encoding,
        value_sha256=sha,
    )  # fmt: skip
    return _encoder.encode(letter)
