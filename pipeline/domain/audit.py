"""The decision log's hash chain (CONTRACT §5): canonical JSON and the chained SHA-256."""

from __future__ import annotations

import hashlib
from typing import Any, Final

import msgspec

GENESIS: Final = "0" * 64
_ENCODER: Final = msgspec.json.Encoder(order="sorted")


def canonical_json(obj: Any) -> bytes:
    """Sorted keys at every level, no spaces, UTF-8 (non-ASCII not escaped).

    msgspec's encoder is the definition: replays must use this function, not json.dumps,
    whose float spelling differs (1e+16 vs 1e16).
    """
    return _ENCODER.encode(obj)


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(body)).hexdigest()
