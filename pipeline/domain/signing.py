"""Signed events and sealed decision records (CONTRACT §12): one implementation, used by the
worker, the console, the command line, the simulator, the replays and the tests.

- A signed event carries `signature` {"key_id", "mac"}: `mac` is the lowercase hex
  HMAC-SHA-256, keyed by the UTF-8 bytes of the secret, of the UTF-8 canonical JSON of the
  event without `signature` (sorted keys, separators `,` and `:`, non-ASCII as itself).
- A decision record carries `seal` {"key_id", "mac"}: the HMAC of its `hash`. `seal` is not
  part of what `hash` covers.

Keys are `{key_id: secret}` mappings (several, so keys rotate: sign with the new one, keep
the old ones for verifying until nothing needs them). Pure: hashlib, hmac and json only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Final

# Types whose effect depends on who sent them (§12): only valid signatures count.
SIGNED_TYPES: Final = frozenset(
    {"review_decided", "appeal_decided", "exemption_granted", "exemption_revoked", "policy_sweep"}
)
# Reviewer roles (the console's users file) and the signed types each may decide.
ROLES: Final[dict[str, frozenset[str]]] = {
    "reviewer": frozenset({"review_decided"}),
    "senior": frozenset({"review_decided", "appeal_decided"}),
    "admin": SIGNED_TYPES,
}
KEY_ID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"

Keys = Mapping[str, str]


class KeyListError(ValueError):
    """A key list (`KEY_ID=SECRET,…`) that cannot be read."""


def parse_keys(text: str) -> dict[str, str]:
    """`KEY_ID=SECRET[,KEY_ID=SECRET…]` -> {key_id: secret}; ValueError naming the entry
    (never the secret) when an entry is malformed."""
    keys: dict[str, str] = {}
    for n, entry in enumerate(part.strip() for part in text.split(",")):
        if not entry:
            continue
        key_id, sep, secret = entry.partition("=")
        key_id = key_id.strip()
        if not sep or not re.match(KEY_ID_PATTERN, key_id) or not secret:
            raise KeyListError(f"entry {n + 1} is not KEY_ID=SECRET (ids: letters, digits, . _ -)")
        if key_id in keys:
            raise KeyListError(f"key id {key_id!r} is listed twice")
        keys[key_id] = secret
    return keys


def canonical(obj: Any) -> bytes:
    """The bytes a signature covers: sorted keys, `,` and `:`, non-ASCII as itself."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def mac(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def sign(event: Mapping[str, Any], key_id: str, secret: str) -> dict[str, Any]:
    """The event with its `signature` (any earlier one replaced)."""
    body = {k: v for k, v in event.items() if k != "signature"}
    return {**body, "signature": {"key_id": key_id, "mac": mac(secret, canonical(body))}}


def check_signature(event: Mapping[str, Any], keys: Keys) -> str | None:
    """None when the event's signature verifies under one of `keys` and its role may decide
    its type; else why not, in words (the `unauthenticated` dead letter's detail)."""
    sig = event.get("signature")
    kind = event.get("type")
    if sig is None:
        return f"{kind} must be signed (CONTRACT §12) and carries no `signature`"
    if (
        not isinstance(sig, dict)
        or not isinstance(sig.get("key_id"), str)
        or not isinstance(sig.get("mac"), str)
    ):
        return "`signature` must be an object with string `key_id` and `mac`"
    key_id = sig["key_id"]
    secret = keys.get(key_id)
    if secret is None:
        return f"signed with key id {key_id[:64]!r}, which this worker does not hold"
    body = {k: v for k, v in event.items() if k != "signature"}
    if not hmac.compare_digest(mac(secret, canonical(body)), sig["mac"]):
        return f"the signature (key id {key_id!r}) does not verify: wrong secret or altered event"
    role = event.get("role")
    if kind in ("review_decided", "appeal_decided"):
        allowed = ROLES.get(role) if isinstance(role, str) else None
        if allowed is None:
            return f"role {str(role)[:32]!r} is not one of {', '.join(ROLES)}"
        if kind not in allowed:
            return f"role {role!r} may not decide {kind} (only {_who_may(str(kind))})"
    return None


def _who_may(kind: str) -> str:
    return ", ".join(r for r, types in ROLES.items() if kind in types)


# --- Sealed decision records -------------------------------------------------------------

SEALED: Final = "sealed"  # the seal verifies under a key held
UNSEALED: Final = "unsealed"  # no `seal` at all: written before v3 (or by another writer)
FOREIGN: Final = "foreign"  # a seal that does not verify, or one of a key not held


def seal_of(digest: str, key_id: str, secret: str) -> dict[str, str]:
    return {"key_id": key_id, "mac": mac(secret, digest.encode("ascii"))}


def seal_status(record: Mapping[str, Any], keys: Keys) -> str:
    """SEALED, UNSEALED (pre-v3: no `seal`) or FOREIGN, for a record whose hash verifies."""
    s = record.get("seal")
    if s is None:
        return UNSEALED
    digest = record.get("hash")
    if not isinstance(s, dict) or not isinstance(digest, str):
        return FOREIGN
    key_id, given = s.get("key_id"), s.get("mac")
    secret = keys.get(key_id) if isinstance(key_id, str) else None
    if secret is None or not isinstance(given, str):
        return FOREIGN
    ok = hmac.compare_digest(mac(secret, digest.encode("ascii", "replace")), given)
    return SEALED if ok else FOREIGN
