"""The certification table of CONTRACT §3: one value per (creator, domain), and its order."""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from pipeline.domain.errors import LiveGateError
from pipeline.domain.events import CertificationGranted, CertificationRevoked


class Certification(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The JSON value of one field of `livegate:cert:<creator>`.

    License fields are null when a revocation arrived for a domain with no known grant.
    """

    status: Literal["active", "revoked"]
    license_id: str | None = None
    issuer: str | None = None
    profession: str | None = None
    valid_from: int | None = None
    valid_until: int | None = None
    updated_at: int
    event_id: str


CertSnapshot = dict[str, Certification]
CertChange = CertificationGranted | CertificationRevoked

_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Certification)


def is_qualified(snapshot: CertSnapshot, domain: str, t: int) -> bool:
    c = snapshot.get(domain)
    return (
        c is not None
        and c.status == "active"
        and c.valid_from is not None
        and c.valid_until is not None
        and c.valid_from <= t < c.valid_until
    )


def qualified_until(snapshot: CertSnapshot, domain: str, t: int) -> int | None:
    """The end of the qualification that holds at `t`, or None when there is none."""
    if not is_qualified(snapshot, domain, t):
        return None
    return snapshot[domain].valid_until


def change_order(ts: int, status: str, event_id: str) -> tuple[int, int, str]:
    """Total order of changes: by ts, a revocation before a grant at equal ts, then event_id."""
    return (ts, 0 if status == "revoked" else 1, event_id)


def apply_change(stored: Certification | None, change: CertChange) -> Certification | None:
    """The value to store after `change`, or None when it is not later than `stored`."""
    revoked = isinstance(change, CertificationRevoked)
    status: Literal["active", "revoked"] = "revoked" if revoked else "active"
    if stored is not None and change_order(
        stored.updated_at, stored.status, stored.event_id
    ) >= change_order(change.ts, status, change.event_id):
        return None
    if isinstance(change, CertificationGranted):
        return Certification(
            status="active",
            license_id=change.license_id,
            issuer=change.issuer,
            profession=change.profession,
            valid_from=change.valid_from,
            valid_until=change.valid_until,
            updated_at=change.ts,
            event_id=change.event_id,
        )
    if stored is None:
        return Certification(status="revoked", updated_at=change.ts, event_id=change.event_id)
    # A revocation says which license ended, so it keeps what it revokes.
    return msgspec.structs.replace(
        stored, status="revoked", updated_at=change.ts, event_id=change.event_id
    )


def encode_certification(c: Certification) -> bytes:
    return _ENCODER.encode(c)


def decode_certification(data: bytes | str) -> Certification:
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise LiveGateError(f"bad certification value: {exc}") from None


def snapshot_to_builtins(snapshot: CertSnapshot) -> dict[str, Any]:
    return {domain: msgspec.to_builtins(c) for domain, c in snapshot.items()}
