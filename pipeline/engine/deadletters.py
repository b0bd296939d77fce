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


def dead_letter(
    error: str, detail: str, topic: str, partition: int, offset: int,
    key: bytes | None, value: bytes | None, received_at: int, max_bytes: int,
) -> bytes:  # fmt: skip
    """The dead-letter JSON; the original value as UTF-8 text or base64, cut to max_bytes."""
    raw = value or b""
    sha = hashlib.sha256(raw).hexdigest() if len(raw) > max_bytes else None
    cut = raw[:max_bytes]
    encoding = None
    try:
        text = cut.decode("utf-8")
    except UnicodeDecodeError:
        text = base64.b64encode(cut).decode("ascii")
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
